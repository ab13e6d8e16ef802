package rest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// request, reader and spool must end with its request.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
