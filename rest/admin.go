package rest

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

//go:embed openapi.json
var openAPIDoc []byte

func (h *Handler) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 while the handler is ready and the database answers,
// 503 otherwise.
func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	if !h.ready.Load() {
		h.writeError(w, r, sqlstate.Errorf(sqlstate.AdminShutdown, "server is shutting down"))
		return
	}
	// The cheapest statement that goes through the whole engine.
	if _, err := h.db.Exec(r.Context(), "SELECT 1"); err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (h *Handler) serveMetrics(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(h.db.Registry(), promhttp.HandlerOpts{ErrorLog: slogPromLogger{h}}).ServeHTTP(w, r)
}

// slogPromLogger passes promhttp's errors to the handler's logger.
type slogPromLogger struct{ h *Handler }

func (l slogPromLogger) Println(v ...any) {
	l.h.log.Warn("metrics exposition failed", "err", fmt.Sprint(v...))
}

func (h *Handler) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDoc)
}

// columnJSON describes one column.
type columnJSON struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Nullable   bool   `json:"nullable"`
	PrimaryKey bool   `json:"primary_key,omitempty"`
}

// tableJSON describes one table.
type tableJSON struct {
	Name       string       `json:"name"`
	Columns    []columnJSON `json:"columns"`
	PrimaryKey []string     `json:"primary_key"`
	// Rows, in the row store and in segments, are in the detail only.
	Rows        *int64        `json:"rows,omitempty"`
	FreshRows   *int64        `json:"row_store_rows,omitempty"`
	SegmentRows *int64        `json:"segment_rows,omitempty"`
	Segments    []segmentJSON `json:"segments,omitempty"`
}

type segmentJSON struct {
	ID            uint64 `json:"id"`
	Rows          int64  `json:"rows"`
	Deleted       int64  `json:"deleted_rows"`
	Bytes         int64  `json:"bytes"`
	RowGroups     int    `json:"row_groups"`
	SchemaVersion uint64 `json:"schema_version"`
}

func describeColumns(t *catalog.Table) tableJSON {
	tj := tableJSON{Name: t.Name, Columns: make([]columnJSON, len(t.Columns)), PrimaryKey: []string{}}
	for i, c := range t.Columns {
		tj.Columns[i] = columnJSON{Name: c.Name, Type: c.Type.String(), Nullable: !c.NotNull, PrimaryKey: t.IsKeyColumn(i)}
	}
	for _, k := range t.PrimaryKey {
		tj.PrimaryKey = append(tj.PrimaryKey, t.Columns[k].Name)
	}
	return tj
}

// hiddenTable reports whether a table is the server's own (not listed).
func hiddenTable(name string) bool { return strings.EqualFold(name, IdempotencyTable) }

// listTables answers GET /v1/tables: every table with its columns.
func (h *Handler) listTables(w http.ResponseWriter, r *http.Request) {
	out := struct {
		Tables []tableJSON `json:"tables"`
	}{Tables: []tableJSON{}}
	for _, t := range h.db.Tables() {
		if !hiddenTable(t.Name) {
			out.Tables = append(out.Tables, describeColumns(t))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// describeTable answers GET /v1/tables/{table}: columns, rows in the row
// store and in segments, and the segments.
func (h *Handler) describeTable(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "table")
	t, ok := h.db.Table(name)
	if !ok {
		h.writeError(w, r, sqlstate.Errorf(sqlstate.UndefinedTable, "table %q does not exist", name))
		return
	}
	st, err := h.db.TableStats(r.Context(), t.Name)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	tj := describeColumns(t)
	total := st.FreshRows + st.SegmentRows
	tj.Rows, tj.FreshRows, tj.SegmentRows = &total, &st.FreshRows, &st.SegmentRows
	tj.Segments = segmentsJSON(st.Segments)
	writeJSON(w, http.StatusOK, tj)
}

func segmentsJSON(segs []mantisdb.SegmentInfo) []segmentJSON {
	out := make([]segmentJSON, len(segs))
	for i, s := range segs {
		out[i] = segmentJSON{ID: s.ID, Rows: s.Rows, Deleted: s.Deleted, Bytes: s.Bytes, RowGroups: s.RowGroups, SchemaVersion: s.SchemaVersion}
	}
	return out
}

// compact answers POST /v1/tables/{table}/compact: the table's row store
// moved into a segment now.
func (h *Handler) compact(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "table")
	if _, ok := h.db.Table(name); !ok {
		h.writeError(w, r, sqlstate.Errorf(sqlstate.UndefinedTable, "table %q does not exist", name))
		return
	}
	res, err := h.db.Compact(r.Context(), name)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"segment":          res.Segment,
		"rows":             res.Rows,
		"moved_rows":       res.Moved,
		"bytes":            res.Bytes,
		"duration_seconds": res.Duration.Seconds(),
	})
}

// backupRequest is the body of POST /v1/backup.
type backupRequest struct {
	// Name is the backup's subdirectory of Options.BackupDir: letters,
	// digits, '.', '_' and '-'; empty means backup-<UTC time>.
	Name string `json:"name"`
}

// validBackupName matches the names POST /v1/backup accepts: one path
// element, no way out of the backup directory.
var validBackupName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)

// backup answers POST /v1/backup: a consistent copy of the database in a
// new subdirectory of Options.BackupDir.
func (h *Handler) backup(w http.ResponseWriter, r *http.Request) {
	if h.backupDir == "" {
		h.writeError(w, r, sqlstate.Errorf(sqlstate.InsufficientPrivilege,
			"backups over HTTP are off: start the server with --backup-dir"))
		return
	}
	var req backupRequest
	if r.ContentLength != 0 {
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil && err != io.EOF {
			h.writeError(w, r, sqlstate.Wrap(err, sqlstate.InvalidText, "malformed request body: %v; expected {\"name\": \"...\"}", err))
			return
		}
	}
	if req.Name == "" {
		req.Name = "backup-" + time.Now().UTC().Format("20060102T150405Z")
	}
	if !validBackupName.MatchString(req.Name) {
		h.writeError(w, r, sqlstate.Errorf(sqlstate.InvalidParameterValue,
			"invalid backup name %q: use letters, digits, '.', '_' and '-'", req.Name))
		return
	}
	info, err := h.db.Backup(r.Context(), filepath.Join(h.backupDir, req.Name))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"name":             req.Name,
		"dir":              info.Dir,
		"segments":         info.Segments,
		"duration_seconds": info.Duration.Seconds(),
	})
}

// status answers GET /v1/status.
func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	tables := 0
	for _, t := range h.db.Tables() {
		if !hiddenTable(t.Name) {
			tables++
		}
	}
	out := map[string]any{
		"version":        h.version,
		"go_version":     runtime.Version(),
		"started_at":     h.started.UTC().Format(time.RFC3339),
		"uptime_seconds": time.Since(h.started).Seconds(),
		"tables":         tables,
		"ready":          h.ready.Load(),
	}
	if segs, err := h.db.Segments(r.Context()); err == nil {
		var n, b int64
		for _, s := range segs {
			b += s.Bytes
			n++
		}
		out["segments"] = n
		out["segment_bytes"] = b
	}
	cs := h.db.CompactorStats()
	out["compactions"] = cs.Compactions
	out["merges"] = cs.Merges
	if h.dataDir != "" {
		out["data_dir_bytes"] = dirSize(h.dataDir)
	}
	writeJSON(w, http.StatusOK, out)
}

// dirSize returns the total size of the regular files under dir; files
// that vanish while it walks are skipped.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
