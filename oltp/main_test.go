package oltp

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// source mirrors arrowexec.Source, which oltp must not import; the
// assertion keeps Scanner structurally compatible.
type source interface {
	Next() bool
	Record() arrow.RecordBatch
	Err() error
	Close() error
}

var _ source = (*Scanner)(nil)
