//go:build load && linux

package load

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
)

// Targets of issue 8.
const (
	targetKiBPerSession = 100
	targetSessionsPerS  = 200
)

// dialers is how many connections are set up at once: well under the
// daemon's per-source cap of unauthenticated connections (128), as many
// clients from one host would be.
const dialers = 32

// TestLoadConcurrentSessions holds REXEC_LOAD_SESSIONS (default 1,000)
// sessions of `sleep 60` open at once and reports what each costs the
// daemon in resident memory, excluding the commands (they are other
// processes). The sleep outlasts the ramp-up on a loaded 2-core machine;
// what is measured does not depend on its length. Then every client goes
// at once and the daemon must kill every tree and come back to its idle
// descriptors.
func TestLoadConcurrentSessions(t *testing.T) {
	n := envInt("REXEC_LOAD_SESSIONS", 1000)
	d := startDaemon(t)
	d.warm(t, 50)
	time.Sleep(time.Second)
	idle := d.stats()
	clientsBefore := selfRSS()
	t.Logf("idle daemon: %v", idle)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var runs sync.WaitGroup
	var failed atomic.Int64
	start := time.Now()
	rexectest.Parallel(n, dialers, func(i int) {
		c, err := d.dial(ctx)
		if err != nil {
			t.Errorf("session %d: dial: %v", i, err)
			failed.Add(1)
			return
		}
		runs.Add(1)
		go func() {
			defer runs.Done()
			defer c.Close()
			_, err := c.Run(ctx, protocol.Exec{Argv: []string{"sleep", "60"}}, client.IO{Stdout: io.Discard, Stderr: io.Discard})
			if ctx.Err() == nil {
				t.Errorf("session %d ended before the test ended it: %v", i, err)
			}
		}()
	})
	if !rexectest.Eventually(2*time.Minute, func() bool { return d.stats().children >= n-int(failed.Load()) }) {
		t.Fatalf("only %d of %d sessions running after 2 minutes: %v", d.stats().children, n, d.stats())
	}
	ramp := time.Since(start)
	time.Sleep(2 * time.Second)
	held := d.stats()
	perSession := float64(held.rssKiB-idle.rssKiB) / float64(n)
	t.Logf("%d sessions held (ramp-up %v, %.0f sessions/s): daemon %v", n, ramp.Round(time.Millisecond),
		float64(n)/ramp.Seconds(), held)
	t.Logf("daemon RSS per session: %.1f KiB (target ≤ %d KiB); descriptors per session: %.2f; threads: %d → %d; "+
		"clients in the test process: %.1f KiB per session",
		perSession, targetKiBPerSession, float64(held.fds-idle.fds)/float64(n), idle.threads, held.threads,
		float64(selfRSS()-clientsBefore)/float64(n))
	if perSession > targetKiBPerSession {
		t.Errorf("daemon RSS per session %.1f KiB, over the %d KiB target", perSession, targetKiBPerSession)
	}

	stop := time.Now()
	cancel()
	runs.Wait()
	after := d.waitIdle(t, idle.fds, time.Minute)
	t.Logf("all %d clients gone: daemon idle again in %v: %v", n, time.Since(stop).Round(time.Millisecond), after)
}

// TestLoadSessionRate measures new authenticated sessions per second for
// REXEC_LOAD_RATE_TIME (default 10 s) each: a fresh connection (TCP, TLS
// 1.3 with both keys, hello) and exec `true` to its exit, then close, from
// 16 client goroutines in this process. Client and daemon share the
// machine's cores. It also reports handshakes alone, and the daemon's CPU
// time per session.
func TestLoadSessionRate(t *testing.T) {
	dur := envDuration("REXEC_LOAD_RATE_TIME", 10*time.Second)
	d := startDaemon(t)
	d.warm(t, 50)
	modes := []struct {
		name string
		exec bool
		user string // another account; "" is the daemon's own
	}{{"connect+hello", false, ""}, {"connect+hello+exec true", true, ""}}
	if os.Geteuid() == 0 { // the daemon runs as root: sessions as another account too
		modes = append(modes, struct {
			name string
			exec bool
			user string
		}{"connect+hello+exec true as another account", true, d.otherAccount(t)})
	}
	for _, mode := range modes {
		d.cfg.User = mode.user
		before := d.stats()
		var count, errs atomic.Int64
		var mu sync.Mutex
		var lat []time.Duration
		deadline := time.Now().Add(dur)
		start := time.Now()
		rexectest.Parallel(16, 16, func(int) {
			var mine []time.Duration
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := session(d, mode.exec); err != nil {
					if errs.Add(1) <= 5 {
						t.Errorf("%s: %v", mode.name, err)
					}
					continue
				}
				mine = append(mine, time.Since(t0))
				count.Add(1)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
		elapsed := time.Since(start)
		after := d.stats()
		rate := float64(count.Load()) / elapsed.Seconds()
		slices.Sort(lat)
		pct := func(p float64) time.Duration {
			if len(lat) == 0 {
				return 0
			}
			return lat[int(p*float64(len(lat)-1))].Round(100 * time.Microsecond)
		}
		t.Logf("%s: %d in %v = %.0f/s (target ≥ %d/s), %d errors; latency p50 %v p99 %v; daemon CPU %.2f ms per session",
			mode.name, count.Load(), elapsed.Round(time.Millisecond), rate, targetSessionsPerS, errs.Load(),
			pct(0.5), pct(0.99), float64((after.cpu-before.cpu).Microseconds())/1000/float64(max(count.Load(), 1)))
		if mode.exec && rate < targetSessionsPerS {
			t.Errorf("%.0f sessions/s, under the %d/s target", rate, targetSessionsPerS)
		}
	}
	d.waitIdle(t, 0, time.Minute)
}

// session is one fresh connection, with or without an exec of true.
func session(d *daemon, execTrue bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := d.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if !execTrue {
		return c.Ready() // Dial pipelines: the server's hello is read here
	}
	res, err := c.Run(ctx, protocol.Exec{Argv: []string{"true"}}, client.IO{Stdout: io.Discard, Stderr: io.Discard})
	if err == nil && res.Exit.Code != 0 {
		err = fmt.Errorf("true exited with %+v", res.Exit)
	}
	return err
}
