package api

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are Latch's Prometheus metrics, on their own registry so several
// servers can live in one test process. They are served on their own
// listener (MetricsHandler), never on the API's.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// The gauges read values refreshed in the background (RefreshGauges),
	// so a scrape costs the database nothing.
	liveSessions, pendingMessages atomic.Int64
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_http_requests_total",
			Help: "HTTP requests by route and status; status 499 is a client that hung up before the answer (not a fault of Latch).",
		}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "latch_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
	}
	m.liveSessions.Store(-1) // until the first refresh
	m.pendingMessages.Store(-1)
	m.reg.MustRegister(m.requests, m.latency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gauge := func(name, help string, v *atomic.Int64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(v.Load()) }))
	}
	gauge("latch_live_sessions", "Sessions not yet expired, counted in the background at most every 15 s (-1 before the first count or after a failed one).", &m.liveSessions)
	gauge("latch_outbox_pending_messages", "Messages waiting for delivery, counted in the background at most every 15 s (-1 before the first count or after a failed one).", &m.pendingMessages)
	return m
}

// GaugeInterval is how often RefreshGauges counts what the gauges show.
const GaugeInterval = 15 * time.Second

// RefreshGauges counts live sessions and pending messages now and then
// every interval until ctx ends. Scrapes read the last counts.
func (s *Server) RefreshGauges(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		count := func(v *atomic.Int64, f func(context.Context) (int, error)) {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			n, err := f(cctx)
			if err != nil {
				n = -1
			}
			v.Store(int64(n))
		}
		count(&s.metrics.liveSessions, func(ctx context.Context) (int, error) {
			return s.svc.Store().CountLiveSessions(ctx, s.svc.Now())
		})
		count(&s.metrics.pendingMessages, s.svc.Store().CountPendingMessages)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Registry lets the server add its own collectors (delivery results).
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

func (m *metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// MetricsHandler serves the metrics in Prometheus's format, for the
// metrics listener (`--metrics-addr`): GET /metrics, and 404 for anything
// else, so that a scraper pointed at the wrong path finds out.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	return mux
}
