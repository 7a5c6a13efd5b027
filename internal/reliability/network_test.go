//go:build linux

package reliability

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/faultproxy"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/rexectest"
	"github.com/rexec-dev/rexec/internal/server"
)

// TestLatency runs a command through 20 ms of latency per chunk in both
// directions: slow, but byte-exact with the exact exit status.
func TestLatency(t *testing.T) {
	e := startEnv(t, server.Config{})
	before := quiet(t)
	plan := faultproxy.Plan{Faults: []faultproxy.Fault{
		{Kind: faultproxy.Delay, Dir: faultproxy.Up, Wait: 20 * time.Millisecond},
		{Kind: faultproxy.Delay, Dir: faultproxy.Down, Wait: 20 * time.Millisecond},
	}}
	var mu sync.Mutex
	var out bytes.Buffer
	r, err := e.session(plan, "printf 'hello\\n'; exit 3", func(b []byte, _ context.CancelFunc) {
		mu.Lock()
		out.Write(b)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.err != nil || r.res.Exit.Code != 3 || out.String() != "hello\n" {
		t.Errorf("run through latency = stdout %q, exit %+v, err %v; want \"hello\\n\", code 3, nil", out.String(), r.res.Exit, r.err)
	}
	if len(r.link.Fired()) != 2 {
		t.Errorf("faults fired: %v, want both delays", r.link.Fired())
	}
	e.checkSettled(t, before)
}

// TestBlackHole drops everything the client sends once its exec is through,
// as behind a dead link that still looks up to TCP (the proxy acknowledges
// every segment, so TCP keepalive sees a live peer). Whoever gives up first
// (the server's keepalive, or the client's own deadline), the client must
// report a lost connection rather than hang, and the session's whole tree
// must be killed once the connection is gone. How long the server took, if
// it was first, is logged: docs/PROTOCOL.md §4.5 describes the server's
// keepalive policy, which is the server's to choose.
func TestBlackHole(t *testing.T) {
	const interval = 100 * time.Millisecond
	e := startEnv(t, server.Config{KeepaliveInterval: interval})
	e.limit = 2 * time.Second
	base := e.measure(t, spawner, cancelOnNewline)
	before := quiet(t)
	plan := faultproxy.Plan{Faults: []faultproxy.Fault{{Kind: faultproxy.Truncate, Dir: faultproxy.Up, At: base.upTotal}}}
	var mu sync.Mutex
	var out bytes.Buffer
	start := time.Now()
	r, err := e.session(plan, spawner, func(b []byte, _ context.CancelFunc) {
		mu.Lock()
		out.Write(b)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if client.OutcomeOf(r.err) != outcome.ConnectionLost {
		t.Errorf("Run through a black hole = %v (%s), want connection_lost", r.err, client.OutcomeOf(r.err))
	}
	if elapsed < e.limit-interval {
		t.Logf("the server dropped the silent peer after %v (keepalive interval %v)", elapsed.Round(time.Millisecond), interval)
	} else {
		t.Logf("the server kept the silent peer during its session; the client gave up after %v", elapsed.Round(time.Millisecond))
	}
	pid, perr := strconv.Atoi(strings.TrimSpace(out.String()))
	if perr != nil {
		t.Fatalf("stdout %q is not the pid of the sleep", out.String())
	}
	if !rexectest.Eventually(settle, func() bool { return !rexectest.Alive(pid) }) {
		t.Errorf("the session's sleep (pid %d) outlived the connection", pid)
	}
	// The truncation fires only if the client sends anything after what a
	// faithful run sent: since the server sends no pings during a session
	// (18bbb66), the client usually has nothing left to say before its
	// deadline, and the fault never fires. Either way nothing may leak.
	if fired := r.link.Fired(); len(fired) > 1 {
		t.Errorf("faults fired: %v, want at most the truncation", fired)
	}
	e.checkSettled(t, before)
}
