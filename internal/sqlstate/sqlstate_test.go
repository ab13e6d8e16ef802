package sqlstate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestPositionAt(t *testing.T) {
	text := "select *\nfrom t\n  where"
	cases := []struct{ off, line, col int }{
		{0, 1, 1}, {7, 1, 8}, {8, 1, 9}, {9, 2, 1}, {14, 2, 6}, {18, 3, 3}, {100, 3, 8},
	}
	for _, c := range cases {
		if l, col := PositionAt(text, c.off); l != c.line || col != c.col {
			t.Errorf("PositionAt(%d) = %d:%d, want %d:%d", c.off, l, col, c.line, c.col)
		}
	}
}

func TestCodesAndClasses(t *testing.T) {
	cases := []struct {
		err   error
		code  Code
		class Class
	}{
		{nil, Successful, ClassInvalid},
		{Errorf(UndefinedTable, "relation %q does not exist", "t"), UndefinedTable, ClassNotFound},
		{fmt.Errorf("wrapped: %w", Errorf(UniqueViolation, "dup")), UniqueViolation, ClassConflict},
		{Errorf(SyntaxError, "bad").At(2, 3), SyntaxError, ClassInvalid},
		{Errorf(FeatureNotSupported, "joins"), FeatureNotSupported, ClassUnsupported},
		{Errorf(SerializationFailure, "conflict"), SerializationFailure, ClassRetry},
		{context.Canceled, QueryCanceled, ClassCanceled},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), QueryCanceled, ClassCanceled},
		{errors.New("disk on fire"), Internal, ClassInternal},
	}
	for _, c := range cases {
		if got := CodeOf(c.err); got != c.code {
			t.Errorf("CodeOf(%v) = %s, want %s", c.err, got, c.code)
		}
		if c.err == nil {
			continue
		}
		if got := Public(c.err).Code.Class(); got != c.class {
			t.Errorf("class of %v = %d, want %d", c.err, got, c.class)
		}
	}
}

func TestErrorText(t *testing.T) {
	e := Errorf(SyntaxError, "syntax error near %q", "from").At(2, 5)
	if got, want := e.Error(), `42601: syntax error near "from" (at line 2, column 5)`; got != want {
		t.Errorf("Error() = %s, want %s", got, want)
	}
	cause := errors.New("io")
	w := Wrap(cause, IOError, "cannot read")
	if !errors.Is(w, cause) || w.Error() != "58030: cannot read" {
		t.Errorf("Wrap: %v", w)
	}
	if Public(nil) != nil {
		t.Error("Public(nil) != nil")
	}
	r := Wrap(cause, NotNullViolation, "null value").InRow(3, "v")
	if got, want := r.Error(), `23502: null value (row 3, column "v")`; got != want {
		t.Errorf("Error() = %s, want %s", got, want)
	}
	// ShiftRows moves a row on, keeping code, field and cause; other
	// errors pass unchanged.
	shifted := From(ShiftRows(fmt.Errorf("batch: %w", r), 100))
	if shifted == nil || shifted.Row != 103 || shifted.Field != "v" || shifted.Code != NotNullViolation || !errors.Is(shifted, cause) || r.Row != 3 {
		t.Errorf("ShiftRows: %+v (original row %d)", shifted, r.Row)
	}
	for _, err := range []error{nil, cause, Errorf(SyntaxError, "x")} {
		if got := ShiftRows(err, 100); got != err {
			t.Errorf("ShiftRows(%v) = %v", err, got)
		}
	}
}

// TestRecover: a panic of a goroutine that defers Recover becomes an
// internal error naming the panic, with the stack only in the cause.
func TestRecover(t *testing.T) {
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer Recover(&err)
		panic("boom")
	}()
	<-done
	e := From(err)
	if e == nil || e.Code != Internal || e.Message != "internal error: boom" || !strings.Contains(errors.Unwrap(e).Error(), "goroutine") {
		t.Fatalf("Recover: %#v", err)
	}
	err = nil
	func() {
		defer Recover(&err)
	}()
	if err != nil {
		t.Errorf("no panic: %v", err)
	}
}
