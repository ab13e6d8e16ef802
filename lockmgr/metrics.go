package lockmgr

import "github.com/prometheus/client_golang/prometheus"

// metrics are the Prometheus collectors of one Manager. They are not
// registered anywhere: the server registers Collectors() in its registry.
type metrics struct {
	acquisitions *prometheus.CounterVec
	waitsVec     *prometheus.CounterVec
	acquired     [numModes]prometheus.Counter // resolved children, no label lookups on the fast path
	waits        [numModes]prometheus.Counter
	waitSeconds  prometheus.Histogram
	deadlocks    prometheus.Counter
	timeouts     prometheus.Counter
	canceled     prometheus.Counter
	waiting      prometheus.GaugeFunc
}

func (mt *metrics) init(m *Manager) {
	mt.acquisitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mantis_lock_acquisitions_total",
		Help: "Locks granted, by mode (intention locks and conversions included).",
	}, []string{"mode"})
	mt.waitsVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mantis_lock_waits_total",
		Help: "Lock requests that had to wait, by requested mode.",
	}, []string{"mode"})
	for md := IntentShared; md <= Exclusive; md++ {
		mt.acquired[md] = mt.acquisitions.WithLabelValues(md.String())
		mt.waits[md] = mt.waitsVec.WithLabelValues(md.String())
	}
	mt.waitSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "mantis_lock_wait_seconds",
		Help:    "Time lock requests spent waiting, whatever the outcome.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10), // 100µs .. ~26s
	})
	mt.deadlocks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mantis_lock_deadlocks_total",
		Help: "Deadlocks broken by aborting a victim's wait (SQLSTATE 40P01).",
	})
	mt.timeouts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mantis_lock_timeouts_total",
		Help: "Lock waits that exceeded the lock timeout (SQLSTATE 55P03).",
	})
	mt.canceled = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mantis_lock_wait_cancellations_total",
		Help: "Lock waits ended by their context (SQLSTATE 57014).",
	})
	mt.waiting = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mantis_lock_waiters",
		Help: "Lock requests waiting now.",
	}, func() float64 { return float64(m.waiters.Load()) })
}

// Collectors returns the Prometheus collectors of m, for the server to
// register in its registry:
//
//	mantis_lock_acquisitions_total{mode}    counter
//	mantis_lock_waits_total{mode}           counter
//	mantis_lock_wait_seconds                histogram
//	mantis_lock_deadlocks_total             counter
//	mantis_lock_timeouts_total              counter
//	mantis_lock_wait_cancellations_total    counter
//	mantis_lock_waiters                     gauge
//
// The same collectors are returned on every call; register them once.
func (m *Manager) Collectors() []prometheus.Collector {
	mt := &m.metrics
	return []prometheus.Collector{
		mt.acquisitions, mt.waitsVec, mt.waitSeconds, mt.deadlocks,
		mt.timeouts, mt.canceled, mt.waiting,
	}
}
