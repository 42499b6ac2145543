package http

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type metrics struct {
	latency  *prometheus.HistogramVec
	captured *prometheus.CounterVec
	captures *prometheus.CounterVec
}

// latencyBuckets resolve the sub-millisecond range the tracking lookups live
// in as well as the case study's 30 ms P99 budget.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .02, .03, .05, .1, .25, .5, 1, 2.5, 5}

func newMetrics(reg prometheus.Registerer, o Options) *metrics {
	m := &metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tracker_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern, method and status code.",
			Buckets: latencyBuckets,
		}, []string{"route", "code"}),
		captured: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tracker_captured_events_total",
			Help: "Events in accepted captures: stored (new) or duplicate (identical resend).",
		}, []string{"result"}),
		captures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tracker_capture_requests_total",
			Help: "Capture requests (POST /capture and POST /events) by outcome (error code or ok).",
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.latency, m.captured, m.captures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.StoreSize != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tracker_store_size_bytes", Help: "Database file plus WAL size on disk.",
		}, func() float64 { return float64(o.StoreSize()) }))
	}
	if o.WriterBusy != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tracker_store_writer_busy_seconds_total",
			Help: "Time the store's single writer spent committing captures; its rate near 1 means captures queue for it.",
		}, func() float64 { return o.WriterBusy().Seconds() }))
	}
	if o.CacheStats != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tracker_cache_hits_total", Help: "Tracking lookups answered from the cache.",
		}, func() float64 { h, _ := o.CacheStats(); return float64(h) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tracker_cache_misses_total", Help: "Tracking lookups that went to the store.",
		}, func() float64 { _, m := o.CacheStats(); return float64(m) }))
	}
	return m
}

// statusWriter records the status code for the latency histogram.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument observes every request under its route pattern (set by the
// ServeMux on r), so label cardinality is bounded by the route table, not by
// EPCs in paths.
func (m *metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		m.latency.WithLabelValues(route, strconv.Itoa(sw.code)).Observe(time.Since(start).Seconds())
	})
}
