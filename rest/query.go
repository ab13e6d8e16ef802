package rest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// sqlRequest is the body of POST /v1/sql.
type sqlRequest struct {
	SQL string `json:"sql"`
}

func (h *handler) postSQL(w http.ResponseWriter, r *http.Request) {
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
		h.writeError(w, r, sqlstate.Wrap(err, sqlstate.InvalidText, "malformed request body: %v; expected {\"sql\": \"...\"}", err))
		return
	}
	if dec.More() {
		h.writeError(w, r, sqlstate.Errorf(sqlstate.InvalidText, "malformed request body: unexpected data after the JSON object"))
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		h.writeError(w, r, sqlstate.Errorf(sqlstate.InvalidText, "malformed request body: unexpected data after the JSON object"))
		return
	}
	h.runSQL(w, r, req.SQL)
}

func (h *handler) getSQL(w http.ResponseWriter, r *http.Request) {
	h.runSQL(w, r, r.URL.Query().Get("q"))
}

// runSQL runs one statement and answers its result. Rows are streamed batch
// by batch; the request context cancels the statement when the client goes
// away.
func (h *handler) runSQL(w http.ResponseWriter, r *http.Request, text string) {
	if strings.TrimSpace(text) == "" {
		h.writeError(w, r, sqlstate.Errorf(sqlstate.InvalidParameterValue, "no SQL statement given: send {\"sql\": \"...\"} or ?q=..."))
		return
	}
	ctx := r.Context()
	st, err := h.db.Prepare(ctx, text)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	defer st.Close()

	if !st.IsQuery() {
		n, err := st.Exec(ctx)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		buf := append([]byte(`{"columns":[],"rows":[],"rows_affected":`), itoa(n)...)
		_, _ = w.Write(append(buf, "}\n"...))
		return
	}

	rows, err := st.Query(ctx)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	defer rows.Close()

	// Pull the first batch before committing to a status, so that errors
	// found at once (most of them) get their proper status.
	more := rows.Next()
	if !more && rows.Err() != nil {
		h.writeError(w, r, rows.Err())
		return
	}

	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)

	rw := newResultWriter(rows.Schema())
	buf := rw.appendHeader(nil)
	for ; more; more = rows.Next() {
		if buf, err = rw.appendRows(buf, rows.Record()); err != nil {
			break
		}
		if _, werr := w.Write(buf); werr != nil {
			// The client is gone; its context cancels the statement.
			h.log.DebugContext(ctx, "client went away during a query", "err", werr)
			return
		}
		_ = rc.Flush()
		buf = buf[:0]
	}
	if err == nil {
		err = rows.Err()
	}
	buf = append(buf, ']')
	if err != nil {
		// Too late for a status: the error becomes a member of the body.
		status, body := describe(r, err)
		logError(h.log, r, status, err)
		b, merr := json.Marshal(body)
		if merr != nil {
			b = []byte(`{"code":"XX000","message":"internal error"}`)
		}
		buf = append(buf, `,"error":`...)
		buf = append(buf, b...)
	}
	buf = append(buf, "}\n"...)
	_, _ = w.Write(buf)
}

// resultWriter renders the batches of one query result as JSON text. It is
// not safe for concurrent use.
type resultWriter struct {
	schema  *arrow.Schema
	cols    []columnText
	started bool // a row was written: the next one needs a comma
}

func newResultWriter(schema *arrow.Schema) *resultWriter {
	return &resultWriter{schema: schema, cols: make([]columnText, schema.NumFields())}
}

// appendHeader appends the start of the answer up to the opening bracket of
// "rows".
func (rw *resultWriter) appendHeader(dst []byte) []byte {
	dst = append(dst, `{"columns":[`...)
	for i, f := range rw.schema.Fields() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"name":`...)
		dst = appendJSONString(dst, f.Name)
		dst = append(dst, `,"type":`...)
		dst = appendJSONString(dst, sqlTypeName(f.Type))
		dst = append(dst, '}')
	}
	return append(dst, `],"rows":[`...)
}

// appendRows appends the rows of rec, each a JSON array, comma separated.
func (rw *resultWriter) appendRows(dst []byte, rec arrow.RecordBatch) ([]byte, error) {
	for i := range rw.cols {
		if err := rw.cols[i].encode(rec.Column(i)); err != nil {
			return dst, err
		}
	}
	n := int(rec.NumRows())
	for row := 0; row < n; row++ {
		if rw.started {
			dst = append(dst, ',')
		}
		rw.started = true
		dst = append(dst, '[')
		for i := range rw.cols {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, rw.cols[i].value(row)...)
		}
		dst = append(dst, ']')
	}
	return dst, nil
}
