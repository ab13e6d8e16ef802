package rest

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/go-chi/chi/v5"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// DefaultMaxBodyBytes is the request body limit when Options.MaxBodyBytes
// is zero.
const DefaultMaxBodyBytes = 64 << 20

// DefaultIngestBatchRows is the number of rows per Arrow batch that ingest
// decodes when Options.IngestBatchRows is zero.
const DefaultIngestBatchRows = 8192

// Options configure the handler. The zero value (and nil) is valid.
type Options struct {
	// Logger receives request errors and recovered panics; nil means
	// slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes limits request bodies; larger bodies are refused with
	// 413. Zero means DefaultMaxBodyBytes; negative means no limit.
	MaxBodyBytes int64
	// IngestBatchRows is the number of rows per Arrow batch that ingest
	// hands to the database; zero means DefaultIngestBatchRows.
	IngestBatchRows int
	// Allocator allocates the Arrow buffers of ingested batches; nil means
	// memory.DefaultAllocator.
	Allocator memory.Allocator
}

// handler serves the API of one DB. It is safe for concurrent use: it holds
// no state beyond its configuration.
type handler struct {
	db        *mantisdb.DB
	log       *slog.Logger
	maxBody   int64
	batchRows int
	alloc     memory.Allocator
}

// NewHandler returns the HTTP API of db. The handler does not own db: the
// caller closes db after the HTTP server has shut down. It is safe for
// concurrent use.
func NewHandler(db *mantisdb.DB, opts *Options) http.Handler {
	var o Options
	if opts != nil {
		o = *opts
	}
	h := &handler{db: db, log: o.Logger, maxBody: o.MaxBodyBytes, batchRows: o.IngestBatchRows, alloc: o.Allocator}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.batchRows <= 0 {
		h.batchRows = DefaultIngestBatchRows
	}
	if h.alloc == nil {
		h.alloc = memory.DefaultAllocator
	}

	r := chi.NewRouter()
	r.Use(h.recoverer, h.accessLog, h.limitBody)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, &requestError{err: sqlstate.Errorf(sqlstate.UndefinedObject, "no route for %s %s", r.Method, r.URL.Path), status: http.StatusNotFound})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, &requestError{err: sqlstate.Errorf(sqlstate.FeatureNotSupported, "method %s is not allowed for %s", r.Method, r.URL.Path), status: http.StatusMethodNotAllowed})
	})
	r.Get("/healthz", h.health)
	r.Route("/v1", func(r chi.Router) {
		r.Post("/sql", h.postSQL)
		r.Get("/sql", h.getSQL)
		r.Post("/tables/{table}/ingest", h.ingest)
	})
	return r
}

func (h *handler) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// recoverer turns a panic of a handler into a logged 500, so that no client
// input can take the server down. http.ErrAbortHandler keeps its meaning.
func (h *handler) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			h.log.ErrorContext(r.Context(), "panic serving request", "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
			// If the answer had started, this only appends to it; there is
			// no better option left.
			writeJSON(w, http.StatusInternalServerError, errorBody{Error: errorJSON{
				Code: sqlstate.Internal, Message: "internal error: the server failed while serving the request",
			}})
		}()
		next.ServeHTTP(w, r)
	})
}

// accessLog logs every request at Debug level.
func (h *handler) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.log.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		h.log.DebugContext(r.Context(), "http request", "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "duration", time.Since(start))
	})
}

// limitBody caps every request body at the configured limit; reads beyond it
// fail with *http.MaxBytesError, answered 413.
func (h *handler) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.maxBody > 0 && r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter records the status of an answer for the access log. It
// keeps http.ResponseController working through Unwrap.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeError answers err as a JSON error with the status of its class.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := describe(r, err)
	logError(h.log, r, status, err)
	writeJSON(w, status, errorBody{Error: body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own fixed shapes come here; a failure is a bug.
		b = []byte(`{"error":{"code":"XX000","message":"internal error: cannot encode answer"}}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	b = append(b, '\n')
	_, _ = w.Write(b)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
