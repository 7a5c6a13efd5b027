//go:build linux

package reliability

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/faultproxy"
	"github.com/rexec-dev/rexec/internal/rexectest"
	"github.com/rexec-dev/rexec/internal/server"
)

// cutWorkers is how many cut connections run at once.
const cutWorkers = 4

// spawner starts a child that would outlive its shell if nobody killed
// the tree, prints its pid, and waits: a session that never ends by itself.
const spawner = "sleep 30 & echo $!; wait"

// TestCuts cuts the connection (both sockets closed by the proxy) at a
// random byte offset, in a random direction, of a conversation running
// `sleep 30 & echo $!; wait`: anywhere from the first byte of the TLS
// handshake to the last byte before the pid reaches the client. Half of
// the cuts fall in the application records (hello, exec, stdin_eof, the
// pid). After every cut the client must report an error (the command
// never ends by itself), and once all connections are over there must be,
// without closing the server: no session process (the sleep included), no
// goroutine and no file descriptor more than before, no session cgroup;
// and after the server closes, no goroutine at all and no temporary file
// (TestMain). The cuts are seeded and logged (REXEC_RELIABILITY_SEED).
func TestCuts(t *testing.T) {
	n := runs(100, 200, 1000)
	rng := newRand(t)
	e := startEnv(t, server.Config{})
	base := e.measure(t, spawner, cancelOnNewline)
	t.Logf("faithful conversation up to the pid: %+v", base)
	before := quiet(t)

	type cut struct {
		dir faultproxy.Direction
		at  int64
	}
	cuts := make([]cut, n)
	for i := range cuts {
		c := cut{dir: faultproxy.Direction(rng.IntN(2))}
		from, to := int64(0), base.upTotal
		if c.dir == faultproxy.Down {
			to = base.downTotal
		}
		if i%2 == 1 {
			from = base.upApp
			if c.dir == faultproxy.Down {
				from = base.downApp
			}
		}
		c.at = from + rng.Int64N(to-from)
		cuts[i] = c
	}
	start := time.Now()
	var mu sync.Mutex // guards outcomes and the counters
	outcomes := map[string]int{}
	var fired int
	sessionsBefore := len(e.ids.list())
	rexectest.Parallel(n, cutWorkers, func(i int) {
		c := cuts[i]
		plan := faultproxy.Plan{Faults: []faultproxy.Fault{{Kind: faultproxy.Cut, Dir: c.dir, At: c.at}}}
		r, err := e.session(plan, spawner, cancelOnNewline)
		if err != nil {
			t.Errorf("cut %d (%s at %d): %v", i, c.dir, c.at, err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		outcome := "success"
		if r.err != nil {
			outcome = string(client.OutcomeOf(r.err))
		}
		outcomes[outcome]++
		if len(r.link.Fired()) > 0 {
			fired++
		}
		if r.err == nil {
			t.Errorf("cut %d (%s at %d): Run succeeded (exit %+v) on a cut connection", i, c.dir, c.at, r.res.Exit)
		}
	})
	elapsed := time.Since(start)
	e.checkSettled(t, before)
	keys := slices.Sorted(maps.Keys(outcomes))
	var o []string
	for _, k := range keys {
		o = append(o, fmt.Sprintf("%s %d", k, outcomes[k]))
	}
	t.Logf("%d cuts in %v (%d workers): %d fired; sessions the server started (and had to kill): %d; client outcomes: %s",
		n, elapsed.Round(time.Millisecond), cutWorkers, fired, len(e.ids.list())-sessionsBefore, strings.Join(o, ", "))
}

// cancelOnNewline ends a run once the command printed a line: in a
// faithful run that is the pid, and the session must then be torn down by
// the server when the client goes.
func cancelOnNewline(b []byte, cancel context.CancelFunc) {
	if bytes.IndexByte(b, '\n') >= 0 {
		cancel()
	}
}
