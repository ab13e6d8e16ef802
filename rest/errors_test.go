package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

func TestStatusOf(t *testing.T) {
	tests := []struct {
		code   sqlstate.Code
		status int
	}{
		{sqlstate.SyntaxError, 400},
		{sqlstate.InvalidText, 400},
		{sqlstate.NotNullViolation, 400},
		{sqlstate.UndefinedTable, 404},
		{sqlstate.UndefinedColumn, 404},
		{sqlstate.UniqueViolation, 409},
		{sqlstate.DuplicateTable, 409},
		{sqlstate.SerializationFailure, 409},
		{sqlstate.DeadlockDetected, 409},
		{sqlstate.FeatureNotSupported, 501},
		{sqlstate.QueryCanceled, 408},
		{sqlstate.AdminShutdown, 503},
		{sqlstate.IOError, 503},
		{sqlstate.ProgramLimitExceeded, 413},
		{sqlstate.OutOfMemory, 507},
		{sqlstate.InvalidAuthorization, 401},
		{sqlstate.InsufficientPrivilege, 403},
		{sqlstate.Internal, 500},
		{sqlstate.DataCorrupted, 500},
	}
	for _, tt := range tests {
		if got := StatusOf(tt.code); got != tt.status {
			t.Errorf("StatusOf(%s) = %d, want %d", tt.code, got, tt.status)
		}
	}
}

// TestWriteError checks every class through the handler's error writer,
// including errors without a code and context errors.
func TestWriteError(t *testing.T) {
	var logs bytes.Buffer
	h := &Handler{log: slog.New(slog.NewTextHandler(&logs, nil)), maxBody: DefaultMaxBodyBytes}
	tests := []struct {
		err    error
		status int
		code   sqlstate.Code
	}{
		{sqlstate.Errorf(sqlstate.UndefinedTable, "table %q does not exist", "x"), 404, sqlstate.UndefinedTable},
		{fmt.Errorf("wrapped: %w", sqlstate.Errorf(sqlstate.UniqueViolation, "dup")), 409, sqlstate.UniqueViolation},
		{sqlstate.Errorf(sqlstate.SyntaxError, "bad").At(3, 7), 400, sqlstate.SyntaxError},
		{errors.New("broken invariant"), 500, sqlstate.Internal},
		{sqlstate.Errorf(sqlstate.FeatureNotSupported, "joins"), 501, sqlstate.FeatureNotSupported},
		{sqlstate.Errorf(sqlstate.SerializationFailure, "retry"), 409, sqlstate.SerializationFailure},
		{sqlstate.Errorf(sqlstate.AdminShutdown, "shutting down"), 503, sqlstate.AdminShutdown},
		{sqlstate.Errorf(sqlstate.OutOfMemory, "budget"), 507, sqlstate.OutOfMemory},
		{sqlstate.Errorf(sqlstate.InvalidAuthorization, "who"), 401, sqlstate.InvalidAuthorization},
		{sqlstate.Errorf(sqlstate.InsufficientPrivilege, "no"), 403, sqlstate.InsufficientPrivilege},
		{context.DeadlineExceeded, 408, sqlstate.QueryCanceled},
		{&http.MaxBytesError{Limit: 1 << 20}, 413, sqlstate.ProgramLimitExceeded},
		{&requestError{err: sqlstate.Errorf(sqlstate.InvalidText, "row 3: bad"), status: 422, details: map[string]any{"row": 3}}, 422, sqlstate.InvalidText},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.writeError(rec, httptest.NewRequest(http.MethodGet, "/", nil), tt.err)
		var body errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%v: bad body %s", tt.err, rec.Body)
		}
		if rec.Code != tt.status || body.Error.Code != tt.code || body.Error.Message == "" {
			t.Errorf("%v: got %d %s", tt.err, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("content type %q", ct)
		}
	}
	rec := httptest.NewRecorder()
	h.writeError(rec, httptest.NewRequest(http.MethodGet, "/", nil), sqlstate.Errorf(sqlstate.SyntaxError, "bad").At(3, 7))
	if !strings.Contains(rec.Body.String(), `"details":{"column":7,"line":3}`) {
		t.Errorf("position details missing: %s", rec.Body)
	}
	if !strings.Contains(logs.String(), "broken invariant") {
		t.Error("internal error was not logged")
	}
	// A canceled client request is 499, for the logs.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec = httptest.NewRecorder()
	h.writeError(rec, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx), context.Canceled)
	if rec.Code != StatusClientClosedRequest {
		t.Errorf("canceled request: %d", rec.Code)
	}
}

func TestRecoverer(t *testing.T) {
	var logs bytes.Buffer
	h := &Handler{log: slog.New(slog.NewTextHandler(&logs, nil))}
	srv := h.recoverer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/sql", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"XX000"`) {
		t.Errorf("panic answered %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), "boom") || !strings.Contains(logs.String(), "stack") {
		t.Errorf("panic not logged with stack: %s", logs.String())
	}
}
