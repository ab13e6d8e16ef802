package rest

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// StatusClientClosedRequest is the (nginx) status of a request whose client
// went away before the answer; nobody reads it, but logs and metrics do.
const StatusClientClosedRequest = 499

// StatusOf returns the HTTP status for an error code, by its class:
// Invalid 400, NotFound 404, Conflict and Retry 409, Unsupported 501,
// Canceled 408, Unavailable 503, Resource 413 (54000, a limit of the
// request) or 507 (53200, out of memory; 53100, disk full), Auth 401, Denied 403, Internal 500.
func StatusOf(code sqlstate.Code) int {
	switch code.Class() {
	case sqlstate.ClassInvalid:
		return http.StatusBadRequest
	case sqlstate.ClassNotFound:
		return http.StatusNotFound
	case sqlstate.ClassConflict, sqlstate.ClassRetry:
		return http.StatusConflict
	case sqlstate.ClassUnsupported:
		return http.StatusNotImplemented
	case sqlstate.ClassCanceled:
		return http.StatusRequestTimeout
	case sqlstate.ClassUnavailable:
		return http.StatusServiceUnavailable
	case sqlstate.ClassResource:
		switch code {
		case sqlstate.OutOfMemory, sqlstate.DiskFull:
			return http.StatusInsufficientStorage
		case sqlstate.TooManyConnections:
			return http.StatusTooManyRequests
		}
		return http.StatusRequestEntityTooLarge
	case sqlstate.ClassAuth:
		return http.StatusUnauthorized
	case sqlstate.ClassDenied:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// requestError is an error of this package that carries what the client
// needs beyond a code and message: an HTTP status that differs from the
// code's class (e.g. 422 for a bad ingest row) and structured details.
type requestError struct {
	err     *sqlstate.Error
	status  int            // 0: by the code's class
	details map[string]any // nil: none
}

// badRow makes the database's error about one row of an ingest body (it
// checks the DECIMAL precision, NOT NULL and VARCHAR length of every batch,
// and conversions to the column types, and names the row of the stream)
// the 422 that the text readers answer for a bad value: with the 1-based
// row and the column in the message and the details. Other errors are
// returned as they are.
func badRow(err error) error {
	var re *requestError
	e := sqlstate.From(err)
	if e == nil || e.Row == 0 || errors.As(err, &re) {
		return err
	}
	return &requestError{
		err:     sqlstate.Wrap(err, e.Code, "row %d, column %q: %s", e.Row, e.Field, e.Message),
		status:  http.StatusUnprocessableEntity,
		details: map[string]any{"row": e.Row, "column": e.Field},
	}
}

func (e *requestError) Error() string { return e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

// errorBody is the JSON body of every error answer.
type errorBody struct {
	Error errorJSON `json:"error"`
}

type errorJSON struct {
	Code    sqlstate.Code  `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// describe converts any error into its HTTP status and JSON form. Errors
// without a code are internal; the caller logs them.
func describe(r *http.Request, err error) (int, errorJSON) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, errorJSON{
			Code:    sqlstate.ProgramLimitExceeded,
			Message: "request body is larger than the limit of " + formatBytes(mbe.Limit),
			Details: map[string]any{"limit_bytes": mbe.Limit},
		}
	}
	var re *requestError
	if errors.As(err, &re) {
		status := re.status
		if status == 0 {
			status = StatusOf(re.err.Code)
		}
		return status, errorJSON{Code: re.err.Code, Message: re.err.Message, Details: withPosition(re.details, re.err)}
	}
	pub := sqlstate.Public(err)
	status := StatusOf(pub.Code)
	if status == http.StatusRequestTimeout && r.Context().Err() != nil {
		status = StatusClientClosedRequest
	}
	return status, errorJSON{Code: pub.Code, Message: pub.Message, Details: withPosition(nil, pub)}
}

func withPosition(details map[string]any, e *sqlstate.Error) map[string]any {
	if e.Line <= 0 {
		return details
	}
	if details == nil {
		details = make(map[string]any, 2)
	}
	details["line"] = e.Line
	details["column"] = e.Column
	return details
}

// logError logs an error answer: internal errors (status 500) at Error
// level with their full text, the rest at Debug level.
func logError(log *slog.Logger, r *http.Request, status int, err error) {
	if status >= http.StatusInternalServerError && status != http.StatusNotImplemented && status != http.StatusServiceUnavailable {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		return
	}
	log.DebugContext(r.Context(), "request rejected", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
}

func formatBytes(n int64) string {
	const (
		kib = 1 << 10
		mib = 1 << 20
	)
	switch {
	case n >= mib && n%mib == 0:
		return itoa(n/mib) + " MiB"
	case n >= kib && n%kib == 0:
		return itoa(n/kib) + " KiB"
	}
	return itoa(n) + " bytes"
}
