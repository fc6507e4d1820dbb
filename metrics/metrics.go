// Package metrics holds tether's Prometheus metrics and the one registry
// they are gathered from. The other packages report through small
// interfaces they declare (or plain funcs), so only cmd/tether and
// server know this package.
//
//	m := metrics.New()
//	m.ObserveHTTP("/healthz", "GET", 200, time.Millisecond)
//	http.Handle("/metrics", m.Handler())
package metrics

import (
	"bytes"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"strconv"
)

// Metrics are tether's collectors, registered on a registry of their own
// (not the global one, so tests can run several servers in one process).
type Metrics struct {
	reg            *prometheus.Registry
	httpRequests   *prometheus.CounterVec
	httpDuration   *prometheus.HistogramVec
	probes         *prometheus.CounterVec
	probeDuration  *prometheus.HistogramVec
	toolCalls      *prometheus.CounterVec
	tokenRefreshes *prometheus.CounterVec
	monitorLag     prometheus.Gauge
	dbWrite        prometheus.Histogram
	replica        *prometheus.GaugeVec
	// awaiting reads the number of tools awaiting approval; set once by
	// SetToolsAwaitingApproval.
	awaiting atomic.Pointer[func() float64]
}

// New registers every collector (plus the Go runtime and process ones).
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tether_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route", "method"}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_probes_total", Help: "Probes of MCP servers by transport and outcome.",
		}, []string{"transport", "outcome"}),
		probeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tether_probe_duration_seconds", Help: "Probe latency (initialize + tools/list) by transport.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"transport"}),
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_tool_calls_total", Help: "Tool calls by path (mcp, rest, test) and outcome.",
		}, []string{"via", "outcome"}),
		tokenRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_token_refreshes_total", Help: "OAuth token refreshes by outcome.",
		}, []string{"outcome"}),
		monitorLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tether_health_monitor_lag_seconds", Help: "How late the last health-monitor round started, or how long it ran past its interval.",
		}),
		dbWrite: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tether_db_write_duration_seconds", Help: "SQLite write transaction latency, commit included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
	}
	// The one place the replica's name is a label: an info series to join
	// a fleet's per-process figures (scrapers label them by instance) to
	// the name replicas use in logs, leases and `tether keys status`.
	// Other series stay without it, so their label sets stay small.
	m.replica = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tether_replica_info", Help: "1, labelled with this process's replica id (--replica-id).",
	}, []string{"replica"})
	awaiting := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tether_tools_awaiting_approval",
		Help: "Tools, across every tenant, whose definition waits for an operator's decision (pending_approval, changed, held). No tenant label: per-tenant counts are in the API.",
	}, func() float64 {
		if f := m.awaiting.Load(); f != nil {
			return (*f)()
		}
		return 0
	})
	m.reg.MustRegister(m.httpRequests, m.httpDuration, m.probes, m.probeDuration, m.toolCalls,
		m.tokenRefreshes, m.monitorLag, m.dbWrite, m.replica, awaiting,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveHTTP records one answered request. Every label must come from a
// bounded set, since requests are counted before they are authenticated:
// route is the route pattern (not the path, so ids do not explode the label
// set) or "unmatched", and method one the API routes or "other".
func (m *Metrics) ObserveHTTP(route, method string, status int, d time.Duration) {
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// ObserveProbe records one probe.
func (m *Metrics) ObserveProbe(transport, outcome string, d time.Duration) {
	m.probes.WithLabelValues(transport, outcome).Inc()
	m.probeDuration.WithLabelValues(transport).Observe(d.Seconds())
}

// ObserveToolCall records one tool call.
func (m *Metrics) ObserveToolCall(via, outcome string) {
	m.toolCalls.WithLabelValues(via, outcome).Inc()
}

// ObserveTokenRefresh records one OAuth token refresh.
func (m *Metrics) ObserveTokenRefresh(outcome string) {
	m.tokenRefreshes.WithLabelValues(outcome).Inc()
}

// SetReplica names this process in tether_replica_info.
func (m *Metrics) SetReplica(id string) {
	m.replica.Reset()
	m.replica.WithLabelValues(id).Set(1)
}

// SetMonitorLag records the health monitor's lag.
func (m *Metrics) SetMonitorLag(d time.Duration) { m.monitorLag.Set(d.Seconds()) }

// ObserveDBWrite records one write transaction.
func (m *Metrics) ObserveDBWrite(d time.Duration) { m.dbWrite.Observe(d.Seconds()) }

// SetToolsAwaitingApproval sets how tether_tools_awaiting_approval is read
// at each scrape: a count over the shared database, so every replica
// reports the fleet's total.
func (m *Metrics) SetToolsAwaitingApproval(count func() float64) { m.awaiting.Store(&count) }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Text renders the metrics in the Prometheus text format.
func (m *Metrics) Text() ([]byte, error) {
	families, err := m.reg.Gather()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}
