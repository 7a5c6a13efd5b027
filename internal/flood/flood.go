// Package flood is a load generator for rexec's pre-authentication
// defences (docs/CLI.md §8): it opens many TCP connections to a daemon
// from a chosen source address, then sends nothing (Idle), the start of a
// TLS record one byte at a time (Drip) or bytes that are not TLS
// (Garbage), and reports as JSON lines when the server closed each
// connection, with a summary at the end.
//
// It knows nothing of rexec's protocol beyond the shape of a TLS record
// header and imports nothing internal. cmd/rexec-flood is its command
// line; the flood tests in internal/cli run that as a separate process, so
// the daemon's and the flood's descriptors, memory and CPU stay apart.
package flood

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is what a connection sends once connected.
type Mode string

const (
	// Idle connects and sends nothing, like a client that never starts
	// its TLS handshake.
	Idle Mode = "idle"
	// Drip sends one byte every Config.DripEvery: a TLS handshake record
	// header announcing a full-size record, then zeros, so a TLS server
	// keeps waiting for the rest. A server whose deadline each byte
	// extends would hold such a connection for ever.
	Drip Mode = "drip"
	// Garbage sends garbagePayload at once, then waits: a server should
	// refuse it at the first record header.
	Garbage Mode = "garbage"
)

// Defaults for Config's zero values, and its bounds.
const (
	// DefaultDripEvery is the drip interval of issue 7's must-hold.
	DefaultDripEvery = 5 * time.Second
	// DefaultHold bounds a run that was given no Hold.
	DefaultHold = 30 * time.Second
	// DefaultConcurrency is how many dials are in flight at once: enough
	// to open 10,000 loopback connections in about a second, few enough
	// not to overflow a listen backlog of 4096 before the server accepts.
	DefaultConcurrency = 128
	// DefaultDialTimeout bounds one dial; a SYN dropped by a full backlog
	// is retried by the kernel after 1 s, 3 s, ...
	DefaultDialTimeout = 5 * time.Second
	// MaxConns is the most connections one run opens: one source
	// address has 65,535 ports, fewer in the ephemeral range.
	MaxConns = 65535
)

// dripPayload is what Drip sends, a byte at a time: a TLS handshake record
// header (type 22, version 3.1, length 16384) and then the record's body
// as zeros. After it, Drip sends zeros.
var dripPayload = []byte{0x16, 0x03, 0x01, 0x40, 0x00}

// garbagePayload is what Garbage sends: plain text, so the first record
// header is not TLS.
var garbagePayload = []byte("GET / HTTP/1.1\r\nHost: rexec-flood\r\n\r\n")

// Config says what to flood and how. Addr and Conns are required; every
// other zero value is documented on its field.
type Config struct {
	// Addr is the target, host:port.
	Addr string
	// From is the source address to bind; the zero value lets the
	// kernel choose.
	From netip.Addr
	// Conns is how many connections to open, 1..MaxConns.
	Conns int
	// Mode is what each connection sends; zero means Idle.
	Mode Mode
	// DripEvery is Drip's interval; zero means DefaultDripEvery.
	DripEvery time.Duration
	// Hold bounds the run from its start: when it passes, every
	// connection still open is closed by us and counted as still open.
	// The run ends earlier once the server has closed every connection.
	// Zero means DefaultHold.
	Hold time.Duration
	// Concurrency is how many dials are in flight at once; zero means
	// DefaultConcurrency.
	Concurrency int
	// DialTimeout bounds one dial; zero means DefaultDialTimeout.
	DialTimeout time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		return c, errors.New("flood: no address")
	}
	if c.Conns < 1 || c.Conns > MaxConns {
		return c, fmt.Errorf("flood: %d connections: want 1..%d", c.Conns, MaxConns)
	}
	switch c.Mode {
	case "":
		c.Mode = Idle
	case Idle, Drip, Garbage:
	default:
		return c, fmt.Errorf("flood: mode %q: want idle, drip or garbage", c.Mode)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.DripEvery, DefaultDripEvery)
	def(&c.Hold, DefaultHold)
	def(&c.DialTimeout, DefaultDialTimeout)
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	return c, nil
}

// fdReserve is how many descriptors beyond one per connection the process
// needs: stdio, the poller, the runtime's own.
const fdReserve = 64

// Run floods cfg.Addr and writes the report to out as JSON lines: Start,
// Connected once every dial has finished, one Closed per connection the
// server closed, Warning for trouble that does not stop the run, and
// Summary last, which Run also returns. It raises its own RLIMIT_NOFILE
// to what cfg needs, where the platform allows.
//
// Run returns when the server has closed every connection, when
// cfg.Hold has passed, or when ctx is done, whichever is first; every
// connection and goroutine is gone by then. out is written from one
// goroutine at a time.
func Run(ctx context.Context, cfg Config, out io.Writer) (Summary, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Summary{}, err
	}
	r := newRunner(cfg, out)
	nofile, err := raiseNoFile(uint64(cfg.Conns + fdReserve))
	if err != nil {
		r.rep.emit(Warning{Event: EventWarning, Message: fmt.Sprintf("raising RLIMIT_NOFILE: %v", err)})
	}
	r.rep.emit(Start{Event: EventStart, Addr: cfg.Addr, From: fromString(cfg.From), Mode: cfg.Mode,
		Conns: cfg.Conns, NoFile: nofile})
	ctx, cancel := context.WithTimeout(ctx, cfg.Hold)
	defer cancel()
	go r.sink()
	r.dialAll(ctx)
	r.rep.emit(r.connectedEvent())
	r.waitOpen(ctx)
	r.shut()
	s := r.summary()
	r.rep.emit(s)
	return s, r.rep.err
}

func fromString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// runner is one run: dial workers open connections, each has a watch
// goroutine (and a drip one), and sink alone counts and reports their
// ends. mu guards the fields below it.
type runner struct {
	cfg    Config
	rep    *reporter
	start  time.Time
	dialer net.Dialer

	stopping atomic.Bool    // set before shut closes our side
	wg       sync.WaitGroup // one per connection goroutine
	bytes    atomic.Int64   // bytes sent, all connections
	// ends carries each ended connection from its watch goroutine to
	// sink, which alone closes, counts and reports; it has room for every
	// connection, so a watcher stamps the time and is gone, and a burst
	// of closes is timed by when each was seen, not by its place in the
	// queue behind the others' reporting.
	ends     chan ending
	sinkDone chan struct{}

	mu         sync.Mutex
	open       map[int]net.Conn
	dialErrors map[string]int
	nconns     int             // connections made
	closes     []time.Duration // server-close times, after connect
	dialsDone  bool
	allClosed  chan struct{} // closed once dialsDone and open is empty
}

func newRunner(cfg Config, out io.Writer) *runner {
	r := &runner{cfg: cfg, rep: &reporter{w: out}, start: time.Now(),
		open: map[int]net.Conn{}, dialErrors: map[string]int{}, allClosed: make(chan struct{}),
		ends: make(chan ending, cfg.Conns), sinkDone: make(chan struct{})}
	r.dialer = net.Dialer{Timeout: cfg.DialTimeout, Control: bindNoPort}
	if cfg.From.IsValid() {
		r.dialer.LocalAddr = &net.TCPAddr{IP: cfg.From.AsSlice()}
	}
	return r
}

// dialAll opens cfg.Conns connections, cfg.Concurrency at a time, and
// returns when every dial has succeeded or failed, or ctx is done.
func (r *runner) dialAll(ctx context.Context) {
	next := make(chan int)
	var workers sync.WaitGroup
	for range min(r.cfg.Concurrency, r.cfg.Conns) {
		workers.Go(func() {
			for id := range next {
				r.dialOne(ctx, id)
			}
		})
	}
feed:
	for id := range r.cfg.Conns {
		select {
		case next <- id:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	workers.Wait()
	r.mu.Lock()
	r.dialsDone = true
	r.checkAllClosedLocked()
	r.mu.Unlock()
}

// conn is one connection of the flood.
type conn struct {
	id   int
	nc   net.Conn
	at   time.Time     // when its dial returned
	sent atomic.Int64  // bytes written
	done chan struct{} // closed when the connection has ended
}

func (r *runner) dialOne(ctx context.Context, id int) {
	nc, err := r.dialer.DialContext(ctx, "tcp", r.cfg.Addr)
	if err != nil {
		r.mu.Lock()
		r.dialErrors[errorKind(err)]++
		r.mu.Unlock()
		return
	}
	c := &conn{id: id, nc: nc, at: time.Now(), done: make(chan struct{})}
	r.mu.Lock()
	r.open[id] = nc
	r.nconns++
	r.mu.Unlock()
	r.wg.Go(func() { r.watch(c) })
	switch r.cfg.Mode {
	case Drip:
		r.wg.Go(func() { r.drip(c) })
	case Garbage:
		r.write(c, garbagePayload)
	}
}

func (r *runner) write(c *conn, b []byte) error {
	n, err := c.nc.Write(b)
	c.sent.Add(int64(n))
	r.bytes.Add(int64(n))
	return err
}

// ending is a connection that ended: after is its lifetime, err what
// ended our read; byServer is false when we closed it ourselves.
type ending struct {
	c        *conn
	after    time.Duration
	err      error
	byServer bool
}

// watch reads until the connection ends and hands it to sink.
func (r *runner) watch(c *conn) {
	defer close(c.done)
	var buf [512]byte
	var err error
	for err == nil {
		_, err = c.nc.Read(buf[:])
	}
	r.ends <- ending{c: c, after: time.Since(c.at), err: err, byServer: !r.stopping.Load()}
}

// sink closes, counts and reports ended connections until ends is closed.
func (r *runner) sink() {
	defer close(r.sinkDone)
	for e := range r.ends {
		e.c.nc.Close()
		r.mu.Lock()
		delete(r.open, e.c.id)
		if e.byServer {
			r.closes = append(r.closes, e.after)
		}
		r.checkAllClosedLocked()
		r.mu.Unlock()
		if e.byServer {
			r.rep.emit(Closed{Event: EventClosed, Conn: e.c.id, AfterMS: ms(e.after), How: closeKind(e.err), Sent: e.c.sent.Load()})
		}
	}
}

// drip sends the next byte of the drip stream every DripEvery, starting at
// once, until the connection ends.
func (r *runner) drip(c *conn) {
	t := time.NewTicker(r.cfg.DripEvery)
	defer t.Stop()
	for i := 0; ; i++ {
		b := byte(0)
		if i < len(dripPayload) {
			b = dripPayload[i]
		}
		if r.write(c, []byte{b}) != nil {
			return
		}
		select {
		case <-c.done:
			return
		case <-t.C:
		}
	}
}

func (r *runner) checkAllClosedLocked() {
	if r.dialsDone && len(r.open) == 0 {
		select {
		case <-r.allClosed:
		default:
			close(r.allClosed)
		}
	}
}

// waitOpen returns once the server has closed every connection or ctx is
// done.
func (r *runner) waitOpen(ctx context.Context) {
	select {
	case <-r.allClosed:
	case <-ctx.Done():
	}
}

// shut closes every connection still open and waits for their
// goroutines and sink.
func (r *runner) shut() {
	r.stopping.Store(true)
	r.mu.Lock()
	for _, nc := range r.open {
		nc.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	close(r.ends)
	<-r.sinkDone
}

func (r *runner) connectedEvent() Connected {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Connected{Event: EventConnected, Connected: r.nconns, DialFailed: r.dialFailedLocked(),
		DialErrors: maps.Clone(r.dialErrors), ElapsedMS: ms(time.Since(r.start))}
}

func (r *runner) summary() Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Summary{Event: EventSummary, Conns: r.cfg.Conns, Connected: r.nconns,
		DialFailed: r.dialFailedLocked(), DialErrors: maps.Clone(r.dialErrors),
		ClosedByServer: len(r.closes), StillOpen: r.nconns - len(r.closes),
		BytesSent: r.bytes.Load(), ElapsedMS: ms(time.Since(r.start))}
	if len(r.closes) > 0 {
		sorted := slices.Clone(r.closes)
		slices.Sort(sorted)
		s.CloseMinMS, s.CloseMaxMS = ms(sorted[0]), ms(sorted[len(sorted)-1])
		s.CloseP99MS = ms(Percentile(sorted, 99))
	}
	return s
}

func (r *runner) dialFailedLocked() int {
	n := 0
	for _, c := range r.dialErrors {
		n += c
	}
	return n
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value that at least p% of the values
// do not exceed. It returns 0 for an empty slice.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(len(sorted)) / 100))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
