package rest

import (
	"mime"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// ingest answers POST /v1/tables/{table}/ingest: an NDJSON body appended to
// the table in one transaction.
func (h *handler) ingest(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "table")
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err != nil:
			h.writeError(w, r, &requestError{err: sqlstate.Errorf(sqlstate.InvalidParameterValue, "malformed Content-Type %q", ct), status: http.StatusUnsupportedMediaType})
			return
		case mt == "application/x-ndjson", mt == "application/jsonl", mt == "application/json", mt == "text/plain":
		default:
			h.writeError(w, r, &requestError{
				err:    sqlstate.Errorf(sqlstate.FeatureNotSupported, "unsupported content type %q: send NDJSON as application/x-ndjson", mt),
				status: http.StatusUnsupportedMediaType,
			})
			return
		}
	}
	table, ok := h.db.Table(name)
	if !ok {
		h.writeError(w, r, sqlstate.Errorf(sqlstate.UndefinedTable, "table %q does not exist", name))
		return
	}
	rdr := newNDJSONReader(h.alloc, table, r.Body, h.batchRows)
	defer rdr.Release()
	n, err := h.db.Ingest(r.Context(), table.Name, rdr)
	// A decoding error is the cause whatever the database made of it: the
	// database saw the reader fail and wrote nothing.
	if rerr := rdr.Err(); rerr != nil {
		h.writeError(w, r, rerr)
		return
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"rows_written": n})
}
