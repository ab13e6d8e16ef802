package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlsplit"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// sqlRequest is the body of POST /v1/sql.
type sqlRequest struct {
	SQL string `json:"sql"`
	// Params are the values of the statement's parameters ($1, $2, … or
	// ?), in order.
	Params []json.RawMessage `json:"params"`
	// Timeout bounds the request, as a Go duration ("2s", "500ms") or a
	// number of seconds; the timeout query parameter does the same.
	Timeout json.RawMessage `json:"timeout"`
}

func (h *Handler) postSQL(w http.ResponseWriter, r *http.Request) {
	// The body is JSON whatever the Content-Type says: `curl -d` sends
	// application/x-www-form-urlencoded, and refusing it helps nobody.
	var req sqlRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.writeError(w, r, err)
			return
		}
		h.writeError(w, r, sqlstate.Wrap(err, sqlstate.InvalidText, "malformed request body: %v; expected {\"sql\": \"...\", \"params\": [...]}", err))
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		h.writeError(w, r, sqlstate.Errorf(sqlstate.InvalidText, "malformed request body: unexpected data after the JSON object"))
		return
	}
	timeout := r.URL.Query().Get("timeout")
	if len(req.Timeout) > 0 && string(req.Timeout) != "null" {
		var s string
		if err := json.Unmarshal(req.Timeout, &s); err != nil {
			s = string(req.Timeout) // a number of seconds
		}
		timeout = s
	}
	h.runSQL(w, r, req.SQL, req.Params, timeout)
}

func (h *Handler) getSQL(w http.ResponseWriter, r *http.Request) {
	h.runSQL(w, r, r.URL.Query().Get("q"), nil, r.URL.Query().Get("timeout"))
}

// parseTimeout parses a timeout: a Go duration or a number of seconds.
func parseTimeout(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f < 0 || f > 1e9 {
			return 0, sqlstate.Errorf(sqlstate.InvalidParameterValue, "timeout %q: want a duration such as 5s or 250ms, or a number of seconds", s)
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d <= 0 {
		return 0, sqlstate.Errorf(sqlstate.InvalidParameterValue, "timeout %q must be positive", s)
	}
	return d, nil
}

// runSQL runs the statements of one request and answers the result of the
// last one in the negotiated format. One statement runs on its own; several
// run in one transaction, committed after the last one's result was sent.
// Rows are streamed batch by batch; the request context cancels the work
// when the client goes away.
func (h *Handler) runSQL(w http.ResponseWriter, r *http.Request, text string, rawParams []json.RawMessage, timeout string) {
	start := time.Now()
	err := h.runSQLErr(w, r, text, rawParams, timeout)
	h.metrics.query(start, err)
}

func (h *Handler) runSQLErr(w http.ResponseWriter, r *http.Request, text string, rawParams []json.RawMessage, timeout string) error {
	fail := func(err error) error {
		h.writeError(w, r, err)
		return err
	}
	enc, err := negotiate(r)
	if err != nil {
		return fail(err)
	}
	stmts := sqlsplit.Split(text)
	if len(stmts) == 0 {
		return fail(sqlstate.Errorf(sqlstate.InvalidParameterValue, "no SQL statement given: send {\"sql\": \"...\"} or ?q=..."))
	}
	if len(rawParams) > 0 && len(stmts) > 1 {
		return fail(sqlstate.Errorf(sqlstate.InvalidParameterValue, "params are only allowed with a single statement; this request has %d", len(stmts)))
	}
	d, err := parseTimeout(timeout)
	if err != nil {
		return fail(err)
	}
	ctx := r.Context()
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	timedOut := func(err error) error {
		if err != nil && d > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) && r.Context().Err() == nil {
			return sqlstate.Wrap(err, sqlstate.QueryCanceled, "canceling statement due to the request timeout of %s", d)
		}
		return err
	}

	if len(stmts) == 1 {
		st, err := h.db.Prepare(ctx, stmts[0])
		if err != nil {
			return fail(timedOut(err))
		}
		defer st.Close()
		params, err := bindParams(st, rawParams)
		if err != nil {
			return fail(err)
		}
		return h.answer(w, r, enc, ctx, st, params, nil, timedOut)
	}

	tx, err := h.db.Begin(ctx)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	for i, s := range stmts[:len(stmts)-1] {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fail(withStatement(timedOut(err), i, len(stmts)))
		}
	}
	last := len(stmts) - 1
	st, err := tx.Prepare(ctx, stmts[last])
	if err != nil {
		return fail(withStatement(timedOut(err), last, len(stmts)))
	}
	defer st.Close()
	return h.answer(w, r, enc, ctx, st, nil, func() error { return tx.Commit(ctx) }, timedOut)
}

// withStatement names the failing statement of a multi-statement request
// in the error's details.
func withStatement(err error, i, n int) error {
	pub := sqlstate.Public(err)
	return &requestError{err: pub, details: map[string]any{"statement": i + 1, "statements": n}}
}

// answer runs st and writes its result. commit, if not nil, ends the
// request's transaction before the answer is complete: an error of the
// commit after rows were sent ends the body with an error (JSON, NDJSON)
// or aborts the connection (binary formats), as any late error does.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, enc resultEncoder, ctx context.Context, st *mantisdb.Stmt, params []scalar.Scalar, commit func() error, timedOut func(error) error) error {
	fail := func(err error) error {
		err = timedOut(err)
		h.writeError(w, r, err)
		return err
	}
	if !st.IsQuery() {
		var (
			n   int64
			err error
		)
		if params != nil {
			n, err = st.ExecParams(ctx, params)
		} else {
			n, err = st.Exec(ctx)
		}
		if err == nil && commit != nil {
			err = commit()
		}
		if err != nil {
			return fail(err)
		}
		// Statements without rows answer JSON whatever was asked.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		buf := append([]byte(`{"columns":[],"rows":[],"rows_affected":`), itoa(n)...)
		_, _ = w.Write(append(buf, "}\n"...))
		return nil
	}

	var (
		rows *mantisdb.Rows
		err  error
	)
	if params != nil {
		rows, err = st.QueryParams(ctx, params)
	} else {
		rows, err = st.Query(ctx)
	}
	if err != nil {
		return fail(err)
	}
	defer rows.Close()

	// Pull the first batch before committing to a status, so that errors
	// found at once (most of them) get their proper status.
	more := rows.Next()
	if !more && rows.Err() != nil {
		return fail(rows.Err())
	}
	w.Header().Set("Content-Type", enc.contentType())
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	out := &flushWriter{w: w, rc: http.NewResponseController(w)}
	if err := enc.begin(out, rows.Schema(), h); err != nil {
		return h.lateError(w, r, enc, out, err)
	}
	for ; more; more = rows.Next() {
		if err = enc.batch(rows.Record()); err != nil {
			break
		}
		if err = out.flush(); err != nil {
			// The client is gone; its context cancels the statement.
			h.log.DebugContext(ctx, "client went away during a query", "err", err)
			return err
		}
	}
	if err == nil {
		err = rows.Err()
	}
	if err == nil && commit != nil {
		_ = rows.Close()
		err = commit()
	}
	if err != nil {
		return h.lateError(w, r, enc, out, timedOut(err))
	}
	if err := enc.end(); err != nil {
		return h.lateError(w, r, enc, out, err)
	}
	return out.flush()
}

// lateError reports an error found after the answer's status was sent.
func (h *Handler) lateError(w http.ResponseWriter, r *http.Request, enc resultEncoder, out *flushWriter, err error) error {
	status, body := describe(r, err)
	logError(h.log, r, status, err)
	if enc.endWithError(body) {
		_ = out.flush()
		return err
	}
	// A binary format has no place for an error: cut the connection, so
	// the client sees a failed transfer rather than a short result.
	panic(http.ErrAbortHandler)
}

// flushWriter buffers an answer and flushes it to the client batch by
// batch. A write of flushDirectBytes or more goes to the client at once,
// after what is buffered: the text encoders render a whole batch into a
// buffer of their own, which then costs no second copy. An error of such
// a write is kept and returned by the next flush, so that a client that
// went away is noticed where it was before, after the batch.
type flushWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf bytes.Buffer
	err error // the first error writing to the client
}

// flushDirectBytes is the size from which flushWriter.Write does not copy.
const flushDirectBytes = 64 << 10

func (f *flushWriter) Write(p []byte) (int, error) {
	switch {
	case f.err != nil:
		// The client is gone; the next flush says so.
	case len(p) < flushDirectBytes:
		return f.buf.Write(p)
	default:
		if f.buf.Len() > 0 {
			_, f.err = f.w.Write(f.buf.Bytes())
			f.buf.Reset()
		}
		if f.err == nil {
			_, f.err = f.w.Write(p)
		}
	}
	return len(p), nil
}

func (f *flushWriter) flush() error {
	if f.err == nil && f.buf.Len() > 0 {
		_, f.err = f.w.Write(f.buf.Bytes())
		f.buf.Reset()
	}
	if f.err != nil {
		return f.err
	}
	if err := f.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// bindParams converts the JSON parameter values of a request into scalars
// of the statement's parameter types; nil when the request has none.
func bindParams(st *mantisdb.Stmt, raw []json.RawMessage) ([]scalar.Scalar, error) {
	ps := st.ParamSchema()
	if len(raw) == 0 {
		if ps.NumFields() > 0 {
			return nil, sqlstate.Errorf(sqlstate.ParamCountMismatch, "the statement has %d parameters but the request gives no params", ps.NumFields())
		}
		return nil, nil
	}
	if len(raw) != ps.NumFields() {
		return nil, sqlstate.Errorf(sqlstate.ParamCountMismatch, "the statement has %d parameters but the request gives %d", ps.NumFields(), len(raw))
	}
	out := make([]scalar.Scalar, len(raw))
	for i, v := range raw {
		dt := ps.Field(i).Type
		s, err := paramScalar(v, dt)
		if err != nil {
			return nil, sqlstate.Wrap(err, sqlstate.InvalidParameterValue, "params[%d]: %v", i, err)
		}
		out[i] = s
	}
	return out, nil
}

// paramScalar converts one JSON value. Strings and exact numbers go as
// text where the parameter type is DECIMAL (or not numeric), so that the
// engine's CAST reads them without a detour through float64.
func paramScalar(v json.RawMessage, dt arrow.DataType) (scalar.Scalar, error) {
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return nil, err
	}
	t, _ := catalog.FromArrow(dt)
	switch x := x.(type) {
	case nil:
		if dt == nil || dt.ID() == arrow.NULL {
			return scalar.MakeNullScalar(arrow.Null), nil
		}
		return scalar.MakeNullScalar(dt), nil
	case bool:
		return scalar.NewBooleanScalar(x), nil
	case string:
		return scalar.NewStringScalar(x), nil
	case json.Number:
		if t.Kind == catalog.KindDecimal || t.Kind == catalog.KindVarchar {
			return scalar.NewStringScalar(x.String()), nil
		}
		if n, err := x.Int64(); err == nil {
			return scalar.NewInt64Scalar(n), nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, err
		}
		return scalar.NewFloat64Scalar(f), nil
	}
	return nil, fmt.Errorf("a parameter must be a JSON string, number, boolean or null, not %s", strings.TrimSpace(string(v)))
}
