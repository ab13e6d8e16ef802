package rest

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the collectors of the HTTP API, registered in the DB's
// registry (DB.Registry), so that GET /metrics shows them beside the
// database's own. Several handlers over one DB share them.
type metrics struct {
	requests      *prometheus.CounterVec   // route, method, code
	duration      *prometheus.HistogramVec // route, method
	inFlight      prometheus.Gauge
	throttled     prometheus.Counter
	ingestRows    *prometheus.CounterVec // format
	ingestBytes   *prometheus.CounterVec // format
	queries       *prometheus.CounterVec // outcome
	queryDuration prometheus.Histogram
	replays       prometheus.Counter
}

// register registers c in reg, or returns the equal collector registered
// before (by another handler over the same DB).
func register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		// A collector of the same name and another shape is a bug of the
		// program; keep serving with an unregistered collector.
	}
	return c
}

func newMetrics(reg *prometheus.Registry) *metrics {
	// The Go runtime and process collectors belong in every server's
	// registry; another server over the same DB may have added them.
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &metrics{
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mantis_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"})),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mantis_http_request_duration_seconds",
			Help:    "Time from the start of an HTTP request to the end of its answer, by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "method"})),
		inFlight: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mantis_http_requests_in_flight",
			Help: "HTTP requests being served now.",
		})),
		throttled: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mantis_http_requests_throttled_total",
			Help: "HTTP requests refused with 429 because the concurrency limit was reached.",
		})),
		ingestRows: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mantis_ingest_rows_total",
			Help: "Rows written by successful REST ingest requests, by body format.",
		}, []string{"format"})),
		ingestBytes: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mantis_ingest_bytes_total",
			Help: "Request body bytes (as sent, before decompression) of successful REST ingest requests, by body format.",
		}, []string{"format"})),
		queries: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mantis_queries_total",
			Help: "SQL requests run over REST, by outcome (ok or error).",
		}, []string{"outcome"})),
		queryDuration: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mantis_query_duration_seconds",
			Help:    "Time to run a REST SQL request and send its whole result.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14),
		})),
		replays: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mantis_ingest_idempotent_replays_total",
			Help: "Ingest requests answered from a stored response because their Idempotency-Key was seen before.",
		})),
	}
}

func (m *metrics) ingested(f ingestFormat, rows, bytes int64) {
	m.ingestRows.WithLabelValues(f.String()).Add(float64(rows))
	m.ingestBytes.WithLabelValues(f.String()).Add(float64(bytes))
}

func (m *metrics) query(start time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.queries.WithLabelValues(outcome).Inc()
	m.queryDuration.Observe(time.Since(start).Seconds())
}

// instrument counts requests and their durations by route pattern (not
// path, which would grow without bound with table names).
func (h *Handler) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.metrics.inFlight.Inc()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			h.metrics.inFlight.Dec()
			route := "unmatched"
			if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
				route = rc.RoutePattern()
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			h.metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
			h.metrics.duration.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r)
	})
}
