// Package metrics provides the daemon's Prometheus metrics (docs/CLI.md
// §8): rexec's own families, and the Go runtime's and the process's under
// the names, types and help texts of Prometheus' client library, so that
// dashboards made for any Go program work; all in the Prometheus text
// format, served on /metrics.
//
// The server calls the update methods of a *Metrics as things happen, and
// the SYN-flood watch (internal/synwatch) reports its samples with SetSYN;
// a nil *Metrics makes every one of them a no-op, so the server runs the
// same without --metrics. Serve exposes /metrics over HTTP.
//
// metrics is linked into every rexec binary, so every rexec process, the
// one-shot `rexec run` too, pays the start-up of every package it links,
// for an endpoint only the daemon serves, and only with --metrics. So it
// writes the Prometheus text format itself (expose.go) and reads its own
// Go runtime and process figures at scrape time (runtime.go, process*.go)
// instead of using the Prometheus client library, whose package
// initialisation was the largest single cost of a `rexec run`
// (docs/BENCHMARKS.md, Results). It serves /metrics with
// net/http (serve.go, handler.go), whose initialisation every process
// pays too (docs/BENCHMARKS.md, "Start-up cost of net/http"): a price
// paid so that the daemon's only HTTP endpoint faces the network with the
// standard library's server rather than one of its own, behind its own
// limits (timeouts, header size, connections, scrapes in flight).
//
// The /proc parsers are pure functions over bytes with golden or table
// tests and fuzz targets; /proc/net is read through internal/procnet,
// the only package metrics imports.
package metrics

import "context"

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

// Metrics holds rexec's metric families. Each *Metrics is independent (no
// global registry), so tests and embedders can make as many as they like.
// All methods are safe for concurrent use, never block on a scrape, and
// are no-ops on a nil *Metrics.
//
// Label values (states, kinds, outcomes, drop reasons) come from the
// server's own constants, never from the network, which keeps the number
// of series bounded.
type Metrics struct {
	conns        *vec // state
	sessions     *vec // kind, outcome
	bytes        *vec // direction
	authFailures *scalar
	drops        *vec // reason
	penalised    *scalar
	synRecv      *scalar
	synSources   *scalar
	tcpExtRise   *vec // counter
	synAlarm     *scalar
	synAlarms    *scalar
	resumes      *vec // result
	spooled      *scalar
	all          []collector // every family above, for a scrape
}

// New returns a Metrics with every family at its start. Connection states
// and byte directions start at 0 so their series exist from the first
// scrape; sessions and drops appear with their first event, the TcpExt
// counters with the SYN watch's first report (synwatch.New makes one).
// The Go runtime and process families are read at each scrape.
func New() *Metrics {
	m := &Metrics{
		conns: newVec("rexec_connections", "Open connections by state: preauth (accepted, not yet authenticated) or authenticated.",
			gauge, "state"),
		sessions: newVec("rexec_sessions_total", "Finished sessions by kind (exec, shell, put, get, ...) and outcome.",
			counter, "kind", "outcome"),
		bytes: newVec("rexec_bytes_total", "Session payload bytes: in from clients, out to clients.",
			counter, "direction"),
		authFailures: newScalar("rexec_auth_failures_total", "Connections whose client key was not authorized.", counter),
		drops: newVec("rexec_drops_total", "Connections dropped before or after authentication, by reason.",
			counter, "reason"),
		penalised: newScalar("rexec_penalised_sources", "Source addresses currently refused by per-source penalties.", gauge),
		synRecv: newScalar("rexec_syn_recv",
			"Half-open (SYN_RECV) TCP connections on the listen ports at the last sample.", gauge),
		synSources: newScalar("rexec_syn_recv_sources",
			"Distinct source addresses of the half-open connections at the last sample.", gauge),
		tcpExtRise: newVec("rexec_tcpext_rise", "Rise of a /proc/net/netstat TcpExt counter over the last sample interval.",
			gauge, "counter"),
		synAlarm:  newScalar("rexec_syn_flood_alarm", "1 while the SYN-flood watch is past a threshold, else 0.", gauge),
		synAlarms: newScalar("rexec_syn_flood_alarms_total", "Times the SYN-flood watch went into alarm.", counter),
		resumes: newVec("rexec_resumes_total", "Resume requests for sessions whose connection dropped, by result (resumed, refused).",
			counter, "result"),
		spooled: newScalar("rexec_spooled_bytes_total", "Output bytes of detached jobs written to their spools.", counter),
	}
	m.all = []collector{m.conns, m.sessions, m.bytes, m.authFailures, m.drops, m.penalised,
		m.synRecv, m.synSources, m.tcpExtRise, m.synAlarm, m.synAlarms, m.resumes, m.spooled}
	for _, s := range []string{StatePreauth, StateAuthenticated} {
		m.conns.with(s)
	}
	for _, d := range []string{DirIn, DirOut} {
		m.bytes.with(d)
	}
	return m
}

// ConnOpened counts a new connection in state (StatePreauth on accept).
func (m *Metrics) ConnOpened(state string) {
	if m != nil {
		m.conns.with(state).Add(1)
	}
}

// ConnState moves an open connection from one state to another.
func (m *Metrics) ConnState(from, to string) {
	if m != nil {
		m.conns.with(from).Add(-1)
		m.conns.with(to).Add(1)
	}
}

// ConnClosed uncounts a connection that was in state.
func (m *Metrics) ConnClosed(state string) {
	if m != nil {
		m.conns.with(state).Add(-1)
	}
}

// SessionEnded counts a finished session of kind with its outcome.
func (m *Metrics) SessionEnded(kind, outcome string) {
	if m != nil {
		m.sessions.with(kind, outcome).Add(1)
	}
}

// Bytes adds n payload bytes in direction dir (DirIn or DirOut); n <= 0 is
// ignored.
func (m *Metrics) Bytes(dir string, n int64) {
	if m != nil && n > 0 {
		m.bytes.with(dir).Add(n)
	}
}

// Resume results, the "result" label of rexec_resumes_total.
const (
	ResumeOK      = "resumed"
	ResumeRefused = "refused"
)

// Resumed counts a resume request with its result (ResumeOK or
// ResumeRefused).
func (m *Metrics) Resumed(result string) {
	if m != nil {
		m.resumes.with(result).Add(1)
	}
}

// Spooled adds n bytes written to detached jobs' spools.
func (m *Metrics) Spooled(n int64) {
	if m != nil && n > 0 {
		m.spooled.v.Add(n)
	}
}

// AuthFailed counts a connection whose key was refused.
func (m *Metrics) AuthFailed() {
	if m != nil {
		m.authFailures.v.Add(1)
	}
}

// Dropped counts a connection dropped for reason (a server constant such
// as "max_startups", "per_source", "penalty", "login_grace").
func (m *Metrics) Dropped(reason string) {
	if m != nil {
		m.drops.with(reason).Add(1)
	}
}

// SetPenalised sets the number of sources currently penalised.
func (m *Metrics) SetPenalised(n int) {
	if m != nil {
		m.penalised.v.Store(int64(n))
	}
}

// SYN is one sample of the SYN-flood watch (internal/synwatch) as the
// metrics show it.
type SYN struct {
	HalfOpen int              // half-open (SYN_RECV) connections on the listen ports
	Sources  int              // their distinct source addresses
	Rise     map[string]int64 // rise of each watched TcpExt counter over the interval, by counter name
	Alarm    bool             // the sample is past a threshold
	Onset    bool             // and the one before was not: an alarm began
}

// SetSYN records a sample of the SYN-flood watch. A counter's series in
// rexec_tcpext_rise appears with the first sample that names it, so the
// watch names every counter it follows in each sample.
func (m *Metrics) SetSYN(s SYN) {
	if m == nil {
		return
	}
	m.synRecv.v.Store(int64(s.HalfOpen))
	m.synSources.v.Store(int64(s.Sources))
	for c, v := range s.Rise {
		m.tcpExtRise.with(c).Store(v)
	}
	m.synAlarm.v.Store(b2i(s.Alarm))
	if s.Onset {
		m.synAlarms.v.Add(1)
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// render returns the exposition of every family: rexec's own, the Go
// runtime's and the process's, read now, sorted by name. It gives up with
// ctx's error before reading /proc if the scrape has already timed out.
func (m *Metrics) render(ctx context.Context) ([]byte, error) {
	fams := m.collect(make([]family, 0, len(m.all)+16))
	fams = appendRuntime(fams)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fams = appendProcess(fams)
	return appendExposition(make([]byte, 0, 8<<10), fams), nil
}

// collect adds rexec's own families.
func (m *Metrics) collect(fams []family) []family {
	for _, c := range m.all {
		fams = c.collect(fams)
	}
	return fams
}
