package rest

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
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

// DefaultMaxConcurrentRequests is the concurrency limit when
// Options.MaxConcurrentRequests is zero.
const DefaultMaxConcurrentRequests = 64

// DefaultSpoolBytes is how much of a Parquet body is held in memory, when
// Options.SpoolBytes is zero, before it is spooled to a temporary file.
const DefaultSpoolBytes = 16 << 20

// Options configure the handler. The zero value (and nil) is valid.
type Options struct {
	// Logger receives request errors and recovered panics; nil means
	// slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes limits request bodies as sent; larger bodies are refused
	// with 413. Zero means DefaultMaxBodyBytes; negative means no limit.
	MaxBodyBytes int64
	// MaxDecodedBytes limits a compressed (gzip, zstd) body after
	// decompression. Zero means 8 × the body limit (no limit when that is
	// unlimited); negative means no limit.
	MaxDecodedBytes int64
	// IngestBatchRows is the number of rows per Arrow batch that ingest
	// hands to the database; zero means DefaultIngestBatchRows.
	IngestBatchRows int
	// Allocator allocates the Arrow buffers of ingested batches and
	// encoded results; nil means memory.DefaultAllocator.
	Allocator memory.Allocator
	// IdempotencyWindow is how long Idempotency-Key values of ingest
	// requests are remembered; zero means DefaultIdempotencyWindow and a
	// negative value means forever.
	IdempotencyWindow time.Duration
	// MaxConcurrentRequests bounds the requests served at once (health,
	// readiness and metrics requests are not counted); a request over the
	// limit is refused at once with 429. Zero means
	// DefaultMaxConcurrentRequests; negative means no limit.
	MaxConcurrentRequests int
	// SpoolBytes is how much of a Parquet ingest body is held in memory
	// before it goes to a temporary file in TempDir; zero means
	// DefaultSpoolBytes.
	SpoolBytes int64
	// TempDir is the directory of spooled bodies; "" means os.TempDir().
	TempDir string
	// DataDir, if set, is the database's directory; GET /v1/status reports
	// its size.
	DataDir string
	// Version is the server version that GET /v1/status reports.
	Version string
	// BackupDir is the directory under which POST /v1/backup writes
	// backups (DB.Backup), each into a new subdirectory; "" refuses
	// backups over HTTP (403), so that no request names a path of the
	// server's machine.
	BackupDir string
}

// Handler serves the HTTP API of one DB. It is safe for concurrent use.
type Handler struct {
	db         *mantisdb.DB
	log        *slog.Logger
	maxBody    int64
	maxDecoded int64
	batchRows  int
	alloc      memory.Allocator
	spoolBytes int64
	tempDir    string
	dataDir    string
	backupDir  string
	version    string
	started    time.Time
	limit      chan struct{} // nil: no concurrency limit
	ready      atomic.Bool
	metrics    *metrics
	idem       *idempotency
	router     chi.Router
}

// NewHandler returns the HTTP API of db. The handler does not own db: the
// caller closes db after the HTTP server has shut down. Its metrics are
// registered in db.Registry(). It is ready (GET /readyz) at once; see
// SetReady.
func NewHandler(db *mantisdb.DB, opts *Options) *Handler {
	var o Options
	if opts != nil {
		o = *opts
	}
	h := &Handler{db: db, log: o.Logger, maxBody: o.MaxBodyBytes, maxDecoded: o.MaxDecodedBytes,
		batchRows: o.IngestBatchRows, alloc: o.Allocator, spoolBytes: o.SpoolBytes, tempDir: o.TempDir,
		dataDir: o.DataDir, backupDir: o.BackupDir, version: o.Version, started: time.Now()}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.maxDecoded == 0 && h.maxBody > 0 {
		h.maxDecoded = 8 * h.maxBody
	}
	if h.batchRows <= 0 {
		h.batchRows = DefaultIngestBatchRows
	}
	if h.alloc == nil {
		h.alloc = memory.DefaultAllocator
	}
	if h.spoolBytes <= 0 {
		h.spoolBytes = DefaultSpoolBytes
	}
	switch n := o.MaxConcurrentRequests; {
	case n == 0:
		h.limit = make(chan struct{}, DefaultMaxConcurrentRequests)
	case n > 0:
		h.limit = make(chan struct{}, n)
	}
	window := o.IdempotencyWindow
	if window == 0 {
		window = DefaultIdempotencyWindow
	}
	h.idem = &idempotency{db: db, mem: h.alloc, window: window, now: time.Now}
	h.metrics = newMetrics(db.Registry())
	h.ready.Store(true)
	h.router = h.routes()
	return h
}

// ServeHTTP serves one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.router.ServeHTTP(w, r) }

// SetReady sets what GET /readyz answers: 200 when ready, 503 when not. A
// server calls SetReady(false) when its graceful shutdown starts, so that
// load balancers stop sending requests while running ones finish.
func (h *Handler) SetReady(ready bool) { h.ready.Store(ready) }

// routes builds the router. Every route here is documented in
// openapi.json (a test checks both ways).
func (h *Handler) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(h.instrument, h.recoverer, h.accessLog, h.limitBody, h.limitConcurrency)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, &requestError{err: sqlstate.Errorf(sqlstate.UndefinedObject, "no route for %s %s", r.Method, r.URL.Path), status: http.StatusNotFound})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, &requestError{err: sqlstate.Errorf(sqlstate.FeatureNotSupported, "method %s is not allowed for %s", r.Method, r.URL.Path), status: http.StatusMethodNotAllowed})
	})
	r.Get("/healthz", h.health)
	r.Get("/readyz", h.readyz)
	r.Get("/metrics", h.serveMetrics)
	r.Route("/v1", func(r chi.Router) {
		r.Post("/sql", h.postSQL)
		r.Get("/sql", h.getSQL)
		r.Get("/tables", h.listTables)
		r.Get("/tables/{table}", h.describeTable)
		r.Post("/tables/{table}/ingest", h.ingest)
		r.Post("/tables/{table}/compact", h.compact)
		r.Get("/status", h.status)
		r.Post("/backup", h.backup)
		r.Get("/openapi.json", h.openAPI)
	})
	return r
}

// unlimitedPaths are not counted against the concurrency limit: probes and
// scrapes must answer when the server is busiest.
var unlimitedPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// limitConcurrency refuses a request with 429 when the concurrency limit
// is reached. It does not queue: a client that retries after a pause is
// better served than one that waits in an invisible queue.
func (h *Handler) limitConcurrency(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.limit == nil || unlimitedPaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case h.limit <- struct{}{}:
			defer func() { <-h.limit }()
			next.ServeHTTP(w, r)
		default:
			h.metrics.throttled.Inc()
			w.Header().Set("Retry-After", "1")
			if r.ContentLength != 0 {
				// Answer at once and close: without this, net/http reads
				// up to 256 KiB of the unread body before it writes the
				// answer, and a client that sends its body slowly (or a
				// stream that never ends) waits for its 429 as long.
				w.Header().Set("Connection", "close")
			}
			h.writeError(w, r, &requestError{
				err:     sqlstate.Errorf(sqlstate.TooManyConnections, "too many concurrent requests (limit %d); retry later", cap(h.limit)),
				status:  http.StatusTooManyRequests,
				details: map[string]any{"limit": cap(h.limit)},
			})
		}
	})
}

// recoverer turns a panic of a handler into a logged 500, so that no client
// input can take the server down. http.ErrAbortHandler keeps its meaning.
func (h *Handler) recoverer(next http.Handler) http.Handler {
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
func (h *Handler) accessLog(next http.Handler) http.Handler {
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
func (h *Handler) limitBody(next http.Handler) http.Handler {
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
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
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
