// Package metrics provides the daemon's Prometheus metrics (SPEC §4) on a
// registry of its own, and the SYN-flood watch: half-open connections on
// the listen ports from /proc/net/tcp and tcp6, and the rise of the TcpExt
// counters in /proc/net/netstat that count what SYN_RECV alone misses once
// the kernel falls back to SYN cookies.
//
// The server calls the update methods of a *Metrics as things happen; a nil
// *Metrics makes every one of them a no-op, so the server runs the same
// without --metrics. Serve exposes /metrics over HTTP; a Watcher samples
// /proc, feeds the SYN gauges and logs "possible SYN flood".
//
// The /proc parsers are pure functions over io.Readers with golden tests
// and fuzz targets. metrics imports nothing internal.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Connection states, the "state" label of rexec_connections.
const (
	StatePreauth       = "preauth"
	StateAuthenticated = "authenticated"
)

// Byte directions, the "direction" label of rexec_bytes_total: in is from
// clients (stdin, uploaded files), out is to clients.
const (
	DirIn  = "in"
	DirOut = "out"
)

// Handler limits: /metrics is cheap, so a few scrapes at once is plenty,
// and a stuck one must not hold a goroutine for long.
const (
	maxScrapesInFlight = 4
	scrapeTimeout      = 10 * time.Second
)

// Metrics holds rexec's collectors on its own registry (never the global
// default, so tests and embedders can make as many as they like). All
// methods are safe for concurrent use, and no-ops on a nil *Metrics.
//
// Label values (states, kinds, outcomes, drop reasons) come from the
// server's own constants, never from the network, which keeps the number
// of series bounded.
type Metrics struct {
	reg          *prometheus.Registry
	conns        *prometheus.GaugeVec   // state
	sessions     *prometheus.CounterVec // kind, outcome
	bytes        *prometheus.CounterVec // direction
	authFailures prometheus.Counter
	drops        *prometheus.CounterVec // reason
	penalised    prometheus.Gauge
	synRecv      prometheus.Gauge
	synSources   prometheus.Gauge
	tcpExtRise   *prometheus.GaugeVec // counter
	synAlarm     prometheus.Gauge
	synAlarms    prometheus.Counter
}

// New returns Metrics registered on a fresh registry, together with the Go
// runtime and process collectors. Connection states, byte directions and
// the watched TcpExt counters start at 0 so their series exist from the
// first scrape; sessions and drops appear with their first event.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		conns: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rexec_connections",
			Help: "Open connections by state: preauth (accepted, not yet authenticated) or authenticated."}, []string{"state"}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rexec_sessions_total",
			Help: "Finished sessions by kind (exec, shell, put, get, ...) and outcome."}, []string{"kind", "outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rexec_bytes_total",
			Help: "Session payload bytes: in from clients, out to clients."}, []string{"direction"}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "rexec_auth_failures_total",
			Help: "Connections whose client key was not authorized."}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rexec_drops_total",
			Help: "Connections dropped before or after authentication, by reason."}, []string{"reason"}),
		penalised: prometheus.NewGauge(prometheus.GaugeOpts{Name: "rexec_penalised_sources",
			Help: "Source addresses currently refused by per-source penalties."}),
		synRecv: prometheus.NewGauge(prometheus.GaugeOpts{Name: "rexec_syn_recv",
			Help: "Half-open (SYN_RECV) TCP connections on the listen ports at the last sample."}),
		synSources: prometheus.NewGauge(prometheus.GaugeOpts{Name: "rexec_syn_recv_sources",
			Help: "Distinct source addresses of the half-open connections at the last sample."}),
		tcpExtRise: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rexec_tcpext_rise",
			Help: "Rise of a /proc/net/netstat TcpExt counter over the last sample interval."}, []string{"counter"}),
		synAlarm: prometheus.NewGauge(prometheus.GaugeOpts{Name: "rexec_syn_flood_alarm",
			Help: "1 while the SYN-flood watch is past a threshold, else 0."}),
		synAlarms: prometheus.NewCounter(prometheus.CounterOpts{Name: "rexec_syn_flood_alarms_total",
			Help: "Times the SYN-flood watch went into alarm."}),
	}
	m.reg.MustRegister(m.conns, m.sessions, m.bytes, m.authFailures, m.drops, m.penalised,
		m.synRecv, m.synSources, m.tcpExtRise, m.synAlarm, m.synAlarms,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, s := range []string{StatePreauth, StateAuthenticated} {
		m.conns.WithLabelValues(s)
	}
	for _, d := range []string{DirIn, DirOut} {
		m.bytes.WithLabelValues(d)
	}
	for _, c := range watchedCounters {
		m.tcpExtRise.WithLabelValues(c)
	}
	return m
}

// Registry returns the registry the collectors are on, for tests and for
// an embedder that registers more.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// ConnOpened counts a new connection in state (StatePreauth on accept).
func (m *Metrics) ConnOpened(state string) {
	if m != nil {
		m.conns.WithLabelValues(state).Inc()
	}
}

// ConnState moves an open connection from one state to another.
func (m *Metrics) ConnState(from, to string) {
	if m != nil {
		m.conns.WithLabelValues(from).Dec()
		m.conns.WithLabelValues(to).Inc()
	}
}

// ConnClosed uncounts a connection that was in state.
func (m *Metrics) ConnClosed(state string) {
	if m != nil {
		m.conns.WithLabelValues(state).Dec()
	}
}

// SessionEnded counts a finished session of kind with its outcome.
func (m *Metrics) SessionEnded(kind, outcome string) {
	if m != nil {
		m.sessions.WithLabelValues(kind, outcome).Inc()
	}
}

// Bytes adds n payload bytes in direction dir (DirIn or DirOut); n <= 0 is
// ignored.
func (m *Metrics) Bytes(dir string, n int64) {
	if m != nil && n > 0 {
		m.bytes.WithLabelValues(dir).Add(float64(n))
	}
}

// AuthFailed counts a connection whose key was refused.
func (m *Metrics) AuthFailed() {
	if m != nil {
		m.authFailures.Inc()
	}
}

// Dropped counts a connection dropped for reason (a server constant such
// as "max_startups", "per_source", "penalty", "login_grace").
func (m *Metrics) Dropped(reason string) {
	if m != nil {
		m.drops.WithLabelValues(reason).Inc()
	}
}

// SetPenalised sets the number of sources currently penalised.
func (m *Metrics) SetPenalised(n int) {
	if m != nil {
		m.penalised.Set(float64(n))
	}
}

// setSYN records one SYN-watch sample; onset is true when this sample
// started an alarm.
func (m *Metrics) setSYN(s synSample, alarm, onset bool) {
	if m == nil {
		return
	}
	m.synRecv.Set(float64(s.HalfOpen))
	m.synSources.Set(float64(s.Sources))
	for _, c := range watchedCounters {
		m.tcpExtRise.WithLabelValues(c).Set(float64(s.Rise[c]))
	}
	m.synAlarm.Set(b2f(alarm))
	if onset {
		m.synAlarms.Inc()
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Handler serves the registry in the Prometheus text format, at most
// maxScrapesInFlight scrapes at once. A nil *Metrics serves 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		MaxRequestsInFlight: maxScrapesInFlight,
		Timeout:             scrapeTimeout,
	})
}
