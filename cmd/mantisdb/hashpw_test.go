package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/mantisdb/mantisdb/flight"
)

// TestHashPassword checks that the printed hash is one a users file
// accepts for the password and not the password itself.
func TestHashPassword(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"hash-password"}, strings.NewReader("s3cret\n"), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	hash := strings.TrimSpace(out.String())
	if !strings.HasPrefix(hash, "sha256$") || strings.Contains(hash, "s3cret") {
		t.Fatalf("hash %q", hash)
	}
	users, err := flight.ParseUsers(strings.NewReader("ada:" + hash + "\n"))
	if err != nil || users["ada"] != hash {
		t.Fatalf("users file with the hash: %v %v", users, err)
	}
	if code := run(context.Background(), []string{"hash-password"}, strings.NewReader(""), &out, &errb); code == 0 {
		t.Error("an empty password was hashed")
	}
}
