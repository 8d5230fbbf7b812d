package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairn-audit/cairn/internal/delivery"
	"github.com/cairn-audit/cairn/internal/history"
	"github.com/cairn-audit/cairn/internal/ledger"
)

type metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry, l *ledger.Ledger, x *history.Indexer, d *delivery.Deliverer) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_api_calls_total",
			Help: "API calls served, by operation and outcome (OK or the error code).",
		}, []string{"operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cairn_api_call_duration_seconds",
			Help:    "Time to serve an API call, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"operation"}),
	}
	reg.MustRegister(m.calls, m.duration,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cairn_ledger_last_sequence",
			Help: "Sequence number of the newest ledger entry.",
		}, func() float64 { return float64(l.Last()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "cairn_ledger_appended_total",
			Help: "Entries appended to the ledger by this process (duplicates excluded).",
		}, func() float64 { return float64(l.Appended()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cairn_history_lag_entries",
			Help: "Ledger entries not yet indexed for LookupEvents.",
		}, func() float64 {
			c, err := x.Position()
			if err != nil {
				return -1
			}
			return float64(l.Last() - c)
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "cairn_delivery_events_total",
			Help: "Events written to trails' log files by this process, counted once per trail.",
		}, func() float64 { e, _, _ := d.Delivered(); return float64(e) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "cairn_delivery_files_total",
			Help: "Log files written by this process.",
		}, func() float64 { _, f, _ := d.Delivered(); return float64(f) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "cairn_delivery_failures_total",
			Help: "Failed attempts to deliver a trail's batch of log files; each is retried.",
		}, func() float64 { _, _, f := d.Delivered(); return float64(f) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "cairn_delivery_quarantined_records_total",
			Help: "Records that trails selected but could not place in a log file, left out and listed by ListQuarantinedRecords; counted once per trail, by this process.",
		}, func() float64 { return float64(d.QuarantinedTotal()) }),
	)
	return m
}

func (m *metrics) observe(op, code string, d time.Duration) {
	if op == "" {
		op = "unknown"
	}
	m.calls.WithLabelValues(op, code).Inc()
	m.duration.WithLabelValues(op).Observe(d.Seconds())
}
