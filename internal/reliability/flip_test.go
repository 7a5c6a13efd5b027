//go:build linux

package reliability

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/faultproxy"
	"github.com/rexec-dev/rexec/internal/rexectest"
	"github.com/rexec-dev/rexec/internal/server"
)

// flipWorkers is how many damaged connections run at once: enough to hide
// the ones that wait for a timeout, few enough for a 2-core machine.
const flipWorkers = 8

// flip is one damaged connection: bit Bit of byte At of direction Dir.
type flip struct {
	dir faultproxy.Direction
	at  int64
	bit uint8
}

func (f flip) String() string { return fmt.Sprintf("flip %s byte %d bit %d", f.dir, f.at, f.bit) }

// TestBitFlips flips one random bit of the TLS stream per connection, in
// either direction, anywhere from the first byte of the handshake to the
// last byte of the exit message (half of them anywhere, half in the
// application records: hello, exec, stdin_eof, exit), while the client
// asks for `touch marker-N`. It proves the stream fails closed:
//
//   - a flip before the end of the client's exec record, or before the end
//     of the server's hello, never lets the command run (no marker file)
//     and the client reports an error;
//   - a flip before the end of the server's exit record always makes the
//     client report an error: a damaged stream never yields a success;
//   - whenever the client reports success, the command did run and exited 0.
//
// One flip is let through by TLS itself: bytes 1-2 of each direction's
// first record (legacy_record_version of the ClientHello and ServerHello)
// are ignored by design (RFC 8446 §5.1) and are not part of the
// transcript; such a connection may succeed, and then ran the authentic
// command. The flips are seeded and logged (REXEC_RELIABILITY_SEED).
func TestBitFlips(t *testing.T) {
	n := runs(100, 200, 1000)
	rng := newRand(t)
	e := startEnv(t, server.Config{})
	m := markers(t.TempDir())
	base := e.measure(t, "true", nil)
	for range 2 { // the record layout of a Go peer must not vary
		if l := e.measure(t, "true", nil); l.execRec != base.execRec || l.helloDownRec != base.helloDownRec || l.exitRec != base.exitRec {
			t.Fatalf("record layout varies between faithful connections: %+v, then %+v", base, l)
		}
	}
	t.Logf("faithful conversation: %+v", base)
	before := quiet(t)

	flips := make([]flip, n)
	for i := range flips {
		f := flip{dir: faultproxy.Direction(rng.IntN(2)), bit: uint8(rng.IntN(8))}
		from, to := int64(0), base.upTotal
		if f.dir == faultproxy.Down {
			to = base.downTotal
		}
		if i%2 == 1 { // every other flip in the application records, which are few bytes
			from = base.upApp
			if f.dir == faultproxy.Down {
				from = base.downApp
			}
		}
		f.at = from + rng.Int64N(to-from)
		flips[i] = f
	}
	start := time.Now()
	results := make([]*proxied, n)
	rexectest.Parallel(n, flipWorkers, func(i int) {
		f := flips[i]
		plan := faultproxy.Plan{Record: true, Faults: []faultproxy.Fault{{Kind: faultproxy.Flip, Dir: f.dir, At: f.at, Bit: f.bit}}}
		r, err := e.session(plan, m.cmd(i), nil)
		if err != nil {
			t.Errorf("connection %d (%v): %v", i, f, err)
			return
		}
		results[i] = r
	})
	elapsed := time.Since(start)
	settleStart := time.Now()
	e.checkSettled(t, before) // also: every session is over, so markers are final
	t.Logf("settled in %v", time.Since(settleStart))

	var st flipStats
	st.outcomes = map[string]int{}
	for i, r := range results {
		if r != nil {
			st.check(t, base, i, flips[i], r, m.exists(i))
		}
	}
	t.Logf("%d flips in %v (%d workers): %s", n, elapsed.Round(time.Millisecond), flipWorkers, st.String())
}

// flipStats counts what the flips did, for the log and docs/TESTING.md.
type flipStats struct {
	fired, notFired               int
	handshake, beforeExec, after  int // where fired flips landed
	ran, succeeded, legacyIgnored int
	outcomes                      map[string]int
	errors                        int
}

func (s *flipStats) String() string {
	keys := slices.Sorted(maps.Keys(s.outcomes))
	var o []string
	for _, k := range keys {
		o = append(o, fmt.Sprintf("%s %d", k, s.outcomes[k]))
	}
	return fmt.Sprintf("%d applied (%d in the handshake, %d in application records up to exec/hello, %d later), "+
		"%d beyond the stream; commands run %d, client successes %d (%d through an ignored legacy_record_version); outcomes: %s",
		s.fired, s.handshake, s.beforeExec, s.after, s.notFired, s.ran, s.succeeded, s.legacyIgnored, strings.Join(o, ", "))
}

// check applies TestBitFlips' rules to connection i.
func (s *flipStats) check(t *testing.T, base layout, i int, f flip, r *proxied, ran bool) {
	t.Helper()
	ok := r.err == nil
	outcome := "success"
	if !ok {
		outcome = string(client.OutcomeOf(r.err))
	}
	s.outcomes[outcome]++
	if ran {
		s.ran++
	}
	if ok {
		s.succeeded++
	}
	fail := func(format string, args ...any) {
		if s.errors++; s.errors <= 20 {
			t.Errorf("connection %d, %v: "+format+" (client: %v)", append([]any{i, f}, append(args, r.err)...)...)
		}
	}
	if ok && (!ran || r.res.Exit.Code != 0) {
		fail("client reported success (exit %+v) but marker exists = %v", r.res.Exit, ran)
	}
	if len(r.link.Fired()) == 0 {
		s.notFired++
		return
	}
	s.fired++
	ends := recordEnds(r.link.Recorded(f.dir))
	legacy := (f.at == 1 || f.at == 2) && ok // RFC 8446 §5.1: ignored
	if legacy {
		s.legacyIgnored++
		return
	}
	// noRun: the flip precedes what the server needs to run the command;
	// mustFail: it precedes what the client needs to report success.
	var noRun, mustFail bool
	switch f.dir {
	case faultproxy.Up:
		execEnd := recordEnd(ends, base.execRec)
		noRun = execEnd < 0 || f.at < execEnd
		mustFail = noRun
		s.count(f.at < base.upApp, noRun)
	case faultproxy.Down:
		helloEnd, exitEnd := recordEnd(ends, base.helloDownRec), recordEnd(ends, base.exitRec)
		noRun = helloEnd < 0 || f.at < helloEnd
		mustFail = exitEnd < 0 || f.at < exitEnd
		s.count(f.at < base.downApp, noRun)
	}
	if noRun && ran {
		fail("the command ran from a damaged stream (record %d)", recordAt(ends, f.at))
	}
	if mustFail && ok {
		fail("the client reported success from a damaged stream (record %d)", recordAt(ends, f.at))
	}
}

func (s *flipStats) count(handshake, beforeExec bool) {
	switch {
	case handshake:
		s.handshake++
	case beforeExec:
		s.beforeExec++
	default:
		s.after++
	}
}
