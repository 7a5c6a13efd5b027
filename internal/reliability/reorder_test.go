//go:build linux

package reliability

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/faultproxy"
	"github.com/rexec-dev/rexec/internal/rexectest"
	"github.com/rexec-dev/rexec/internal/server"
)

// maxReorderLen bounds the random segment length of TestReorder: from one
// byte to a few dozen, within or across TLS record headers.
const maxReorderLen = 64

// reorder is one damaged connection: the Len bytes at At of direction Dir
// swapped with the Len bytes after them.
type reorder struct {
	dir     faultproxy.Direction
	at, len int64
	whole   bool // At and Len are those of a whole TLS record
}

func (r reorder) String() string {
	s := fmt.Sprintf("reorder %s @%d len %d", r.dir, r.at, r.len)
	if r.whole {
		s += " (a whole record)"
	}
	return s
}

// TestReorder swaps two adjacent segments of the TLS stream per
// connection, in either direction, while the client asks for
// `touch marker-N`: as a network that delivers segments out of order and
// a stack that failed to put them back would. A third of the swaps move a
// whole TLS record (its header included) past the bytes after it, the rest
// 1 to maxReorderLen bytes anywhere; half of all of them fall in the
// application records. The proxy records what each side sent and what was
// forwarded, so the first byte the swap changed is known exactly (a
// sender that paused swaps fewer bytes; equal segments change nothing).
// It proves the same fail-closed rules as TestBitFlips, for that byte:
//
//   - a change before the end of the client's exec record, or before the
//     end of the server's hello, never lets the command run and the
//     client reports an error;
//   - a change before the end of the server's exit record always makes
//     the client report an error;
//   - whenever the client reports success, the command did run and exited 0;
//
// and, once every connection is over, nothing is left: no session
// process, goroutine, descriptor or cgroup. The reorders are seeded and
// logged (REXEC_RELIABILITY_SEED).
func TestReorder(t *testing.T) {
	n := runs(30, 100, 1000)
	rng := newRand(t)
	e := startEnv(t, server.Config{})
	m := markers(t.TempDir())
	base := e.measure(t, "true", nil)
	faithful, err := e.session(faultproxy.Plan{Record: true}, "true", nil)
	if err != nil || faithful.err != nil {
		t.Fatalf("faithful connection: %v, %v", err, faithful.err)
	}
	ends := [2][]int64{recordEnds(faithful.link.Recorded(faultproxy.Up)), recordEnds(faithful.link.Recorded(faultproxy.Down))}
	t.Logf("faithful conversation: %+v", base)
	before := quiet(t)

	reorders := make([]reorder, n)
	for i := range reorders {
		r := reorder{dir: faultproxy.Direction(rng.IntN(2))}
		from, total := int64(0), base.upTotal
		if r.dir == faultproxy.Down {
			total = base.downTotal
		}
		if i%2 == 1 {
			from = base.upApp
			if r.dir == faultproxy.Down {
				from = base.downApp
			}
		}
		if i%3 == 0 {
			r.at, r.len = wholeRecord(ends[r.dir], from, rng)
			r.whole = true
		} else {
			r.at, r.len = from+rng.Int64N(total-from), 1+rng.Int64N(maxReorderLen)
		}
		reorders[i] = r
	}
	start := time.Now()
	results := make([]*proxied, n)
	rexectest.Parallel(n, flipWorkers, func(i int) {
		r := reorders[i]
		plan := faultproxy.Plan{Record: true, Faults: []faultproxy.Fault{{Kind: faultproxy.Reorder, Dir: r.dir, At: r.at, Len: r.len}}}
		p, err := e.session(plan, m.cmd(i), nil)
		if err != nil {
			t.Errorf("connection %d (%v): %v", i, r, err)
			return
		}
		results[i] = p
	})
	elapsed := time.Since(start)
	e.checkSettled(t, before) // also: every session is over, so markers are final

	st := reorderStats{outcomes: map[string]int{}}
	for i, p := range results {
		if p != nil {
			st.check(t, base, i, reorders[i], p, m.exists(i))
		}
	}
	t.Logf("%d reorders in %v (%d workers): %s", n, elapsed.Round(time.Millisecond), flipWorkers, st.String())
}

// wholeRecord picks at random one record of a stream whose record ends
// are ends, among those that start at or after from, and returns its
// offset and length.
func wholeRecord(ends []int64, from int64, rng *rand.Rand) (at, length int64) {
	first := 0
	for first < len(ends)-1 && recordStart(ends, first) < from {
		first++
	}
	k := first + rng.IntN(len(ends)-first)
	at = recordStart(ends, k)
	return at, ends[k] - at
}

// recordStart is the offset of record k.
func recordStart(ends []int64, k int) int64 {
	if k == 0 {
		return 0
	}
	return ends[k-1]
}

// reorderStats counts what the reorders did, for the log and
// docs/TESTING.md.
type reorderStats struct {
	changed, unchanged, whole    int
	handshake, beforeExec, after int // where the first changed byte fell
	ran, succeeded, legacy       int
	outcomes                     map[string]int
	errors                       int
}

func (s *reorderStats) String() string {
	var o []string
	for _, k := range slices.Sorted(maps.Keys(s.outcomes)) {
		o = append(o, fmt.Sprintf("%s %d", k, s.outcomes[k]))
	}
	return fmt.Sprintf("%d changed the stream (%d of them whole-record swaps; first changed byte: %d in the handshake, "+
		"%d in application records up to exec/hello, %d later), %d changed nothing (beyond the stream, or equal segments); "+
		"commands run %d, client successes %d (%d through an ignored legacy_record_version); outcomes: %s",
		s.changed, s.whole, s.handshake, s.beforeExec, s.after, s.unchanged, s.ran, s.succeeded, s.legacy, strings.Join(o, ", "))
}

// check applies TestReorder's rules to connection i.
func (s *reorderStats) check(t *testing.T, base layout, i int, r reorder, p *proxied, ran bool) {
	t.Helper()
	ok := p.err == nil
	outcome := "success"
	if !ok {
		outcome = string(client.OutcomeOf(p.err))
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
			t.Errorf("connection %d, %v: "+format+" (client: %v)", append([]any{i, r}, append(args, p.err)...)...)
		}
	}
	if ok && (!ran || p.res.Exit.Code != 0) {
		fail("client reported success (exit %+v) but marker exists = %v", p.res.Exit, ran)
	}
	sent := p.link.Recorded(r.dir)
	first, last := changed(sent, p.link.Forwarded(r.dir))
	if first < 0 {
		s.unchanged++
		return
	}
	s.changed++
	if r.whole {
		s.whole++
	}
	if ok && first >= 1 && last <= 2 { // RFC 8446 §5.1: legacy_record_version is ignored
		s.legacy++
		return
	}
	ends := recordEnds(sent)
	var noRun, mustFail bool
	switch r.dir {
	case faultproxy.Up:
		execEnd := recordEnd(ends, base.execRec)
		noRun = execEnd < 0 || first < execEnd
		mustFail = noRun
		s.count(first < base.upApp, noRun)
	case faultproxy.Down:
		helloEnd, exitEnd := recordEnd(ends, base.helloDownRec), recordEnd(ends, base.exitRec)
		noRun = helloEnd < 0 || first < helloEnd
		mustFail = exitEnd < 0 || first < exitEnd
		s.count(first < base.downApp, noRun)
	}
	if noRun && ran {
		fail("the command ran from a reordered stream (first change at %d, record %d)", first, recordAt(ends, first))
	}
	if mustFail && ok {
		fail("the client reported success from a reordered stream (first change at %d, record %d)", first, recordAt(ends, first))
	}
}

func (s *reorderStats) count(handshake, beforeExec bool) {
	switch {
	case handshake:
		s.handshake++
	case beforeExec:
		s.beforeExec++
	default:
		s.after++
	}
}

// changed returns the first and last offsets where forwarded differs from
// sent, over the bytes both hold, or -1, -1 when they agree. (Bytes sent
// but never forwarded, because the connection ended, are not a change.)
func changed(sent, forwarded []byte) (first, last int64) {
	first, last = -1, -1
	for i := range min(len(sent), len(forwarded)) {
		if sent[i] != forwarded[i] {
			if first < 0 {
				first = int64(i)
			}
			last = int64(i)
		}
	}
	return first, last
}
