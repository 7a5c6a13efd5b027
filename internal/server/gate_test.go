//go:build linux

package server

import (
	"net/netip"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
)

func TestParseStartups(t *testing.T) {
	tests := []struct {
		in   string
		want Startups
		ok   bool
	}{
		{"10:30:100", Startups{10, 30, 100}, true},
		{"50", Startups{50, 100, 50}, true},
		{"10:30", Startups{}, false},
		{"0:30:100", Startups{}, false},
		{"10:130:100", Startups{}, false},
		{"100:30:10", Startups{}, false},
		{"a:b:c", Startups{}, false},
		{"-1", Startups{}, false},
	}
	for _, tt := range tests {
		got, err := ParseStartups(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseStartups(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// fakeClock is a settable time source for the gate.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func testGate(st Startups, perSource int, pen Penalties) (*gate, *fakeClock) {
	g := newGate(st, perSource, pen)
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	g.now = clk.now
	return g, clk
}

var (
	srcA = netip.MustParsePrefix("192.0.2.1/32")
	srcB = netip.MustParsePrefix("192.0.2.2/32")
)

func TestGateStartups(t *testing.T) {
	g, _ := testGate(Startups{Start: 2, Rate: 50, Full: 4}, -1, Penalties{Disabled: true})
	g.random = func() float64 { return 0.99 } // never below the drop probability
	for i := 0; i < 3; i++ {
		if _, ok := g.admit(srcA, true); !ok {
			t.Fatalf("admit #%d refused below full with a lucky draw", i+1)
		}
	}
	g.random = func() float64 { return 0 } // always below it
	if reason, ok := g.admit(srcA, true); ok || reason != DropStartups {
		t.Fatalf("admit past start with an unlucky draw = %q, %v; want %s", reason, ok, DropStartups)
	}
	g.random = func() float64 { return 0.99 }
	g.admit(srcA, true) // the 4th: full now
	if _, ok := g.admit(srcA, true); ok {
		t.Fatal("admit at full succeeded; want every connection dropped")
	}
	g.leave(srcA, true)
	if _, ok := g.admit(srcA, true); !ok {
		t.Fatal("admit after a leave refused")
	}
}

func TestGatePerSource(t *testing.T) {
	g, _ := testGate(Startups{Start: 100, Rate: 100, Full: 100}, 2, Penalties{Disabled: true})
	g.admit(srcA, true)
	g.admit(srcA, true)
	if reason, ok := g.admit(srcA, true); ok || reason != DropPerSource {
		t.Fatalf("third from one source = %q, %v; want %s", reason, ok, DropPerSource)
	}
	if _, ok := g.admit(srcB, true); !ok {
		t.Fatal("another source was refused by the per-source cap")
	}
	six := netip.MustParsePrefix("2001:db8::/64")
	g.admit(six, true)
	g.admit(six, true)
	if _, ok := g.admit(six, true); ok {
		t.Fatal("a /64 was not capped as one source")
	}
}

func TestGatePenalties(t *testing.T) {
	pen := Penalties{AuthFail: 5 * time.Second, Min: 15 * time.Second, Max: time.Minute,
		Exempt: []netip.Prefix{netip.MustParsePrefix("192.0.2.2/32")}}
	g, clk := testGate(Startups{}, -1, pen)
	for i := 0; i < 2; i++ {
		g.penalize(srcA, penaltyAuthFail)
		if _, ok := g.admit(srcA, true); !ok {
			t.Fatalf("refused after %d failures, below the minimum", i+1)
		}
		g.leave(srcA, true)
	}
	g.penalize(srcA, penaltyAuthFail) // 15 s: reaches Min
	if reason, ok := g.admit(srcA, true); ok || reason != DropPenalty {
		t.Fatalf("after 3 failures = %q, %v; want %s", reason, ok, DropPenalty)
	}
	if n := g.penalised(); n != 1 {
		t.Errorf("penalised() = %d, want 1", n)
	}
	clk.advance(16 * time.Second)
	if _, ok := g.admit(srcA, true); !ok {
		t.Fatal("still refused after the penalty expired")
	}
	for i := 0; i < 10; i++ {
		g.penalize(srcB, penaltyAuthFail)
	}
	if _, ok := g.admit(srcB, true); !ok {
		t.Fatal("an exempt source was penalised")
	}
}

func TestGatePenaltyTableBounded(t *testing.T) {
	g, _ := testGate(Startups{}, -1, Penalties{MaxSources: 3})
	for i := 0; i < 10; i++ {
		g.penalize(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 32), penaltyGrace)
	}
	if n := len(g.penalties); n != 3 {
		t.Errorf("penalty table holds %d sources, want at most 3", n)
	}
}

// TestPenaltyOnRealSockets: after repeated auth failures 127.0.0.1 is
// refused at accept, and accepted again once the penalty expires.
func TestPenaltyOnRealSockets(t *testing.T) {
	ts := startServer(t, Config{Penalties: Penalties{AuthFail: 200 * time.Millisecond,
		Min: 500 * time.Millisecond, Max: time.Second}})
	stranger := newIdentity(t, "stranger")
	for i := 0; i < 3; i++ {
		if _, err := ts.connect(stranger); err == nil {
			t.Fatal("an unauthorized key connected")
		}
	}
	// The server penalises after sending its refusal: wait for it to count.
	if !rexectest.Eventually(5*time.Second, func() bool { return ts.gate.penalised() > 0 }) {
		t.Fatal("three auth failures did not penalise the source")
	}
	if _, err := ts.connect(ts.client); err == nil {
		t.Fatal("a penalised source was admitted")
	}
	if !rexectest.Eventually(5*time.Second, func() bool {
		c, err := ts.connect(ts.client)
		if err == nil {
			c.close()
		}
		return err == nil
	}) {
		t.Fatal("source still refused long after its penalty expired")
	}
}

// TestKeepaliveDropsSilentPeer: a peer that stops answering is dropped
// after keepaliveMisses intervals.
func TestKeepaliveDropsSilentPeer(t *testing.T) {
	ts := startServer(t, Config{KeepaliveInterval: 100 * time.Millisecond})
	c := ts.dial(t)
	if _, err := readUntilClosed(c.tc, 5*time.Second); err != nil {
		t.Fatalf("silent authenticated peer: %v", err)
	}
}

// TestIdleTimeout: a peer that answers pings but runs nothing is closed.
func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, Config{KeepaliveInterval: 50 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	c := ts.dial(t)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		m, err := c.recv()
		if err != nil {
			return // closed: idle timeout worked
		}
		if _, ok := m.(protocol.Ping); ok {
			if err := c.send(protocol.Pong{}); err != nil {
				return
			}
		}
	}
	t.Fatal("idle connection still open after 5 s")
}

func TestMaxSessions(t *testing.T) {
	ts := startServer(t, Config{MaxSessions: 1})
	a, b := ts.dial(t), ts.dial(t)
	if err := a.send(protocol.Exec{Command: "echo started; sleep 30"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.readLines(1); err != nil { // a's session holds the slot now
		t.Fatal(err)
	}
	r, _ := b.run(protocol.Exec{Command: "echo never"}, "")
	if r.err == nil || r.err.Code != protocol.CodeUnavailable {
		t.Fatalf("second session over MaxSessions = %v; want error unavailable", r)
	}
	a.close()
}

// TestKeepaliveSparesPausedReader: a client that reads nothing while its
// session runs (paused on its own stdout) keeps the session.
func TestKeepaliveSparesPausedReader(t *testing.T) {
	ts := startServer(t, Config{KeepaliveInterval: 100 * time.Millisecond})
	c := ts.dial(t)
	if err := c.send(protocol.Exec{Command: "sleep 1; echo done"}); err != nil {
		t.Fatal(err)
	}
	if err := c.send(protocol.StdinEOF{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(800 * time.Millisecond) // 8 intervals without reading or sending
	r, err := c.collect()
	if err != nil || r.exit == nil || r.stdout != "done\n" {
		t.Fatalf("paused client's session = %v, %v; want done and an exit", r, err)
	}
}
