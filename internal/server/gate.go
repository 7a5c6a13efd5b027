package server

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Startups is OpenSSH's MaxStartups "start:rate:full": once Start
// connections are unauthenticated, a new one is dropped with probability
// Rate% rising linearly to 100% at Full. It bounds what a flood of
// half-finished handshakes can cost before any key is checked.
type Startups struct{ Start, Rate, Full int }

// DefaultStartups is 256:30:1024, far above OpenSSH's 10:30:100: a rexec
// handshake costs little CPU (a single TLS 1.3 handshake with Ed25519
// keys; docs/BENCHMARKS.md, "Figures that used to be in comments"), so
// honest bursts (a hundred clients started at once, a fan-out) reach
// numbers that would make sshd drop connections, while a flood is still
// capped long before it matters.
var DefaultStartups = Startups{Start: 256, Rate: 30, Full: 1024}

// ParseStartups reads "start:rate:full" or a single number (Start=Full).
func ParseStartups(s string) (Startups, error) {
	parts := strings.Split(s, ":")
	n := make([]int, len(parts))
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return Startups{}, fmt.Errorf("max startups %q: want start:rate:full or a number", s)
		}
		n[i] = v
	}
	var st Startups
	switch len(n) {
	case 1:
		st = Startups{Start: n[0], Rate: 100, Full: n[0]}
	case 3:
		st = Startups{Start: n[0], Rate: n[1], Full: n[2]}
	default:
		return Startups{}, fmt.Errorf("max startups %q: want start:rate:full or a number", s)
	}
	if st.Start < 1 || st.Rate > 100 || st.Full < st.Start {
		return Startups{}, fmt.Errorf("max startups %q: need 1 <= start <= full and rate <= 100", s)
	}
	return st, nil
}

// String formats s as ParseStartups reads it.
func (s Startups) String() string { return fmt.Sprintf("%d:%d:%d", s.Start, s.Rate, s.Full) }

// Penalties configures per-source penalties, like OpenSSH's
// PerSourcePenalties: each bad event adds time to its source's account;
// once the account reaches Min the source is refused until it runs out.
// The zero value means the defaults below; Disabled turns them off.
type Penalties struct {
	Disabled bool
	AuthFail time.Duration // key not authorized (default 5 s)
	NoAuth   time.Duration // closed or broke the protocol before authenticating (default 1 s)
	Grace    time.Duration // login grace expired (default 10 s)
	Min      time.Duration // account needed before refusing (default 15 s)
	Max      time.Duration // cap of an account (default 10 min)
	// MaxSources bounds the table; when full, new sources go unpenalised
	// (permissive), so the table can never grow without bound.
	MaxSources int // default 65536
	// Exempt sources are never penalised.
	Exempt []netip.Prefix
}

func (p Penalties) withDefaults() Penalties {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&p.AuthFail, 5*time.Second)
	def(&p.NoAuth, time.Second)
	def(&p.Grace, 10*time.Second)
	def(&p.Min, 15*time.Second)
	def(&p.Max, 10*time.Minute)
	if p.MaxSources <= 0 {
		p.MaxSources = 65536
	}
	return p
}

// DefaultPerSourceMax bounds unauthenticated connections from one source
// (/32 or /64) at a time: one address cannot take more than half of the
// default startup slots, so a flood from one host leaves room for others.
const DefaultPerSourceMax = 128

// Reasons a connection is dropped at accept, for logs and metrics.
const (
	DropStartups  = "max_startups"
	DropPerSource = "per_source"
	DropPenalty   = "penalty"
)

// Penalty kinds passed to gate.penalize.
const (
	penaltyAuthFail = iota
	penaltyNoAuth
	penaltyGrace
)

// gate admits connections before authentication. mu guards every field
// but now and random (fixed at construction).
type gate struct {
	startups  Startups
	perSource int // <= 0: unlimited
	pen       Penalties
	now       func() time.Time
	random    func() float64 // in [0, 1)

	mu        sync.Mutex
	unauth    int
	sources   map[netip.Prefix]int
	penalties map[netip.Prefix]*penalty
}

type penalty struct {
	until   time.Time
	blocked bool // the account reached Min: refused until `until`
}

func newGate(st Startups, perSource int, pen Penalties) *gate {
	if st == (Startups{}) {
		st = DefaultStartups
	}
	if perSource == 0 {
		perSource = DefaultPerSourceMax
	}
	return &gate{startups: st, perSource: perSource, pen: pen.withDefaults(),
		now: time.Now, random: rand.Float64,
		sources: map[netip.Prefix]int{}, penalties: map[netip.Prefix]*penalty{}}
}

// reconfigure changes the gate's limits; connections already admitted
// keep their places, and penalties already given keep running.
func (g *gate) reconfigure(st Startups, perSource int, pen Penalties) {
	n := newGate(st, perSource, pen)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.startups, g.perSource, g.pen = n.startups, n.perSource, n.pen
}

// sourceOf is the unit of per-source accounting: the /32 of an IPv4
// address, the /64 of an IPv6 one (one host usually owns a whole /64).
func sourceOf(a net.Addr) (netip.Prefix, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p, true
}

// admit decides whether a new connection from src may start
// authenticating. On success the caller must call leave exactly once, when
// the connection authenticated or ended. ok=false comes with a Drop reason.
func (g *gate) admit(src netip.Prefix, known bool) (reason string, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if known {
		if p := g.penalties[src]; p != nil {
			if !now.Before(p.until) {
				delete(g.penalties, src)
			} else if p.blocked {
				return DropPenalty, false
			}
		}
		if g.perSource > 0 && g.sources[src] >= g.perSource {
			return DropPerSource, false
		}
	}
	if g.drop() {
		return DropStartups, false
	}
	g.unauth++
	if known {
		g.sources[src]++
	}
	return "", true
}

// drop applies MaxStartups' random early drop.
func (g *gate) drop() bool {
	st := g.startups
	switch {
	case g.unauth < st.Start:
		return false
	case g.unauth >= st.Full:
		return true
	}
	p := float64(st.Rate) + float64(100-st.Rate)*float64(g.unauth-st.Start)/float64(st.Full-st.Start)
	return g.random()*100 < p
}

// leave ends the pre-auth accounting of an admitted connection.
func (g *gate) leave(src netip.Prefix, known bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.unauth--
	if known {
		if g.sources[src]--; g.sources[src] <= 0 {
			delete(g.sources, src)
		}
	}
}

// penalize adds a penalty of the given kind to src's account.
func (g *gate) penalize(src netip.Prefix, kind int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pen.Disabled || g.exempt(src) {
		return
	}
	d := [...]time.Duration{penaltyAuthFail: g.pen.AuthFail, penaltyNoAuth: g.pen.NoAuth, penaltyGrace: g.pen.Grace}[kind]
	now := g.now()
	p := g.penalties[src]
	if p == nil {
		if len(g.penalties) >= g.pen.MaxSources {
			g.expireLocked(now)
			if len(g.penalties) >= g.pen.MaxSources {
				return // full of live penalties: permissive
			}
		}
		p = &penalty{}
		g.penalties[src] = p
	}
	left := max(p.until.Sub(now), 0) + d
	left = min(left, g.pen.Max)
	p.until = now.Add(left)
	if left >= g.pen.Min {
		p.blocked = true
	}
}

// expireLocked removes penalties that have run out.
func (g *gate) expireLocked(now time.Time) {
	for src, p := range g.penalties {
		if !now.Before(p.until) {
			delete(g.penalties, src)
		}
	}
}

func (g *gate) exempt(src netip.Prefix) bool {
	for _, e := range g.pen.Exempt {
		if e.Overlaps(src) && e.Bits() <= src.Bits() {
			return true
		}
	}
	return false
}

// penalised counts sources currently refused (for metrics).
func (g *gate) penalised() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	now, n := g.now(), 0
	for _, p := range g.penalties {
		if p.blocked && now.Before(p.until) {
			n++
		}
	}
	return n
}
