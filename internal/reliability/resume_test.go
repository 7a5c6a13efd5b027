//go:build linux

package reliability

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/faultproxy"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
	"github.com/rexec-dev/rexec/internal/server"
)

// resumeBytes is how much flows each way in TestResumeCuts: `cat` of a
// file of random data with stdin from that file.
const resumeBytes = 64 << 20

// hashWriter hashes and counts what it is given.
type hashWriter struct {
	mu sync.Mutex
	h  interface {
		Write([]byte) (int, error)
		Sum([]byte) []byte
	}
	n int64
}

func (w *hashWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n += int64(len(b))
	return w.h.Write(b)
}

// TestResumeCuts cuts the connection of `cat` moving 64 MiB each way at
// random byte offsets (several cuts per run, 100 in all by default, each
// on a fresh connection of the run), in either direction: every run must
// end with exit 0 and stdout's SHA-256 and length equal to the input's
// (so no byte lost or repeated), and no process, goroutine, descriptor
// or cgroup is left.
func TestResumeCuts(t *testing.T) {
	cutsPerRun := 5
	runsN := runs(4, 20, 40)
	e := startEnv(t, server.Config{ResumeWindow: 20 * time.Second})
	e.limit = 5 * time.Minute
	input := filepath.Join(t.TempDir(), "input")
	data := make([]byte, resumeBytes)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(input, data, 0o600); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	rng := newRand(t)
	before := quiet(t)
	for run := 0; run < runsN; run++ {
		var plans []faultproxy.Plan
		for i := 0; i < cutsPerRun; i++ {
			dir := faultproxy.Direction(rng.IntN(2))
			// anywhere in the first 16 MiB of the connection's life: each
			// connection carries part of the 64 MiB, after its TLS and resume.
			// The first connection's cut comes after its exec started: a
			// connection that never started a session has nothing to resume
			// (the client reports the failed dial, as ssh does).
			at := 2048 + rng.Int64N(16<<20)
			if i == 0 {
				at = 256<<10 + rng.Int64N(16<<20)
			}
			plans = append(plans, faultproxy.Plan{Faults: []faultproxy.Fault{{Kind: faultproxy.Cut, Dir: dir, At: at}}})
		}
		p, err := faultproxy.Listen(e.addr, func(n int) faultproxy.Plan {
			if n < len(plans) {
				return plans[n]
			}
			return faultproxy.Plan{}
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		cfg := e.client
		cfg.Resume = true
		cfg.Dialer = func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, p.Addr())
		}
		out := &hashWriter{h: sha256.New()}
		in, err := os.Open(input)
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.Dial(ctx, cfg, target)
		var res client.Result
		if err == nil {
			res, err = c.Run(ctx, protocol.Exec{Argv: []string{"cat"}}, client.IO{Stdin: in, Stdout: out, Stderr: writerFunc(nil)})
			c.Close()
		}
		in.Close()
		cancel()
		p.Close()
		fired := 0
		for _, l := range p.Links() {
			fired += len(l.Fired())
		}
		if err != nil || res.Exit.Code != 0 {
			for i, l := range p.Links() {
				t.Logf("connection %d: plan %+v, fired %+v", i, plans[min(i, len(plans)-1)], l.Fired())
			}
			t.Fatalf("run %d (%d cuts fired): exit %+v, err %v", run, fired, res.Exit, err)
		}
		if got := out.h.Sum(nil); out.n != resumeBytes || string(got) != string(want[:]) {
			t.Fatalf("run %d (%d cuts fired): %d bytes back, sha256 %x, want %d bytes %x", run, fired, out.n, got, resumeBytes, want)
		}
		t.Logf("run %d: %d connections, %d cuts fired, sha256 equal both ways", run, len(p.Links()), fired)
	}
	e.checkSettled(t, before)
}

// TestResumeWindowPasses: a resumable session whose client never comes
// back ends after the window: the tree is killed and a late resume is
// refused with unknown_session.
func TestResumeWindowPasses(t *testing.T) {
	window := 500 * time.Millisecond
	e := startEnv(t, server.Config{ResumeWindow: window})
	before := quiet(t)
	cfg := e.client
	cfg.Resume = true
	var pid int
	p, err := faultproxy.Listen(e.addr, func(n int) faultproxy.Plan {
		if n == 0 {
			return faultproxy.Plan{}
		}
		return faultproxy.Plan{Drop: true} // no reconnection gets through
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cfg.Dialer = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, p.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, cfg, target)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	started := make(chan struct{})
	var once sync.Once
	out := writerFunc(func(b []byte) {
		fmt.Sscan(string(b), &pid)
		once.Do(func() { close(started) })
	})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Run(ctx, protocol.Exec{Command: spawner}, client.IO{Stdout: out, Stderr: writerFunc(nil)})
		errc <- err
	}()
	<-started
	cutAt := time.Now()
	p.Close() // every link closed: the connection is gone and cannot come back
	err = <-errc
	if client.OutcomeOf(err) != outcome.ConnectionLost {
		t.Fatalf("Run = %v, want connection_lost", err)
	}
	if left := rexectest.WaitGone(window+3*time.Second, pid); len(left) > 0 {
		t.Errorf("the session's child %d outlived the resume window by 3 s", pid)
	}
	if d := time.Since(cutAt); d < window {
		t.Errorf("tree gone %v after the cut, before the window of %v", d, window)
	}
	e.checkSettled(t, before)
}

// outageCut is where an outage cuts its first connection: bytes from the
// server, well past the TLS handshake, the hellos, the resume token and
// the command's first lines, and inside the bulk output that follows.
const outageCut = 100 << 10

// outageTimeout bounds each wait of the outage tests.
const outageTimeout = 30 * time.Second

// killWait is how long a process tree may take to disappear after the
// server was told to end it (SIGTERM, KillGrace, SIGKILL, reaping).
const killWait = 3 * time.Second

// outage is a proxy whose first connection is cut at outageCut, and which
// then refuses every connection until reopen: the client's connection is
// down, and it is trying to reconnect, for as long as the test wants.
type outage struct {
	*faultproxy.Proxy
	open    atomic.Bool
	once    sync.Once
	retried chan struct{} // closed at the first refused reconnection
}

func newOutage(t *testing.T, e *env) *outage {
	t.Helper()
	o := &outage{retried: make(chan struct{})}
	p, err := faultproxy.Listen(e.addr, func(n int) faultproxy.Plan {
		switch {
		case n == 0:
			return faultproxy.Plan{Faults: []faultproxy.Fault{{Kind: faultproxy.Cut, Dir: faultproxy.Down, At: outageCut}}}
		case !o.open.Load():
			o.once.Do(func() { close(o.retried) })
			return faultproxy.Plan{Drop: true}
		}
		return faultproxy.Plan{}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	o.Proxy = p
	return o
}

// waitRetry waits until the client, its connection cut, tries to connect
// again: from then on it holds what it would send on a live connection.
func (o *outage) waitRetry(t *testing.T) {
	t.Helper()
	select {
	case <-o.retried:
	case <-time.After(outageTimeout):
		t.Fatal("the client never tried to reconnect after the cut")
	}
}

// reopen lets the next reconnection through.
func (o *outage) reopen() { o.open.Store(true) }

// resumableVia is the client's configuration for resumable runs through o.
func (e *env) resumableVia(o *outage) client.Config {
	cfg := e.client
	cfg.Resume = true
	cfg.Dialer = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, o.Addr())
	}
	return cfg
}

// runResult is what a Run returned.
type runResult struct {
	res client.Result
	err error
}

// startRun dials through o and runs req in the background.
func (e *env) startRun(t *testing.T, o *outage, req protocol.Exec, sio client.IO) <-chan runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*outageTimeout)
	c, err := client.Dial(ctx, e.resumableVia(o), target)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan runResult, 1)
	go func() {
		defer cancel()
		defer c.Close()
		res, err := c.Run(ctx, req, sio)
		done <- runResult{res, err}
	}()
	return done
}

// firstPIDs waits until out holds n lines and returns them as pids.
func firstPIDs(t *testing.T, out *rexectest.SyncBuffer, n int) []int {
	t.Helper()
	var pids []int
	if !rexectest.Eventually(outageTimeout, func() bool {
		lines := strings.SplitN(out.String(), "\n", n+1)
		if len(lines) <= n {
			return false
		}
		pids = pids[:0]
		for _, l := range lines[:n] {
			pid, err := strconv.Atoi(l)
			if err != nil {
				t.Fatalf("line %q is not a pid", l)
			}
			pids = append(pids, pid)
		}
		return true
	}) {
		t.Fatalf("no %d pids in the output %q", n, out.String())
	}
	return pids
}

// TestResumeSignalWhileDown: a signal given while the connection of a
// resumable run is down (cut, the client reconnecting, every attempt
// refused) is held by the client and delivered after the resume: the
// remote trap sees it, and the run ends with the trap's exit status and
// output.
func TestResumeSignalWhileDown(t *testing.T) {
	e := startEnv(t, server.Config{ResumeWindow: outageTimeout})
	before := quiet(t)
	o := newOutage(t, e)
	sigs := make(chan string)
	out := &rexectest.SyncBuffer{}
	script := `trap 'echo trapped; exit 7' TERM; echo $$; head -c 200000 /dev/zero; echo; while :; do sleep 0.05; done`
	done := e.startRun(t, o, protocol.Exec{Command: script}, client.IO{Stdout: out, Stderr: writerFunc(nil), Signals: sigs})
	o.waitRetry(t)
	select {
	case sigs <- "TERM":
	case <-time.After(outageTimeout):
		t.Fatal("the run did not take the signal")
	}
	// The remote shell has not seen it: the connection is still down.
	time.Sleep(200 * time.Millisecond)
	if strings.Contains(out.String(), "trapped") {
		t.Fatal("the trap ran before the connection came back")
	}
	o.reopen()
	r := <-done
	if r.err != nil || r.res.Exit.Code != 7 || !strings.HasSuffix(out.String(), "\ntrapped\n") {
		t.Fatalf("run = %+v, %v, output ending %q; want exit 7 from the trap, \"trapped\" last",
			r.res.Exit, r.err, out.String()[max(len(out.String())-20, 0):])
	}
	if n := len(o.Links()); n < 3 {
		t.Errorf("%d connections; want the cut one, a refused one, the resumed one", n)
	}
	o.Close()
	e.checkSettled(t, before)
}

// TestResumeTimeoutWhileDown: the --timeout of a resumable run whose
// connection was cut fires on the server at its time although no client
// is connected: the tree is killed while the connection is still down,
// not before the timeout, and the resumed client gets the timed-out exit
// (124).
func TestResumeTimeoutWhileDown(t *testing.T) {
	const timeout = 1500 * time.Millisecond
	e := startEnv(t, server.Config{ResumeWindow: outageTimeout})
	before := quiet(t)
	o := newOutage(t, e)
	out := &rexectest.SyncBuffer{}
	start := time.Now()
	done := e.startRun(t, o, protocol.Exec{Command: `sleep 60 & echo $!; echo $$; head -c 200000 /dev/zero; wait`,
		TimeoutMS: timeout.Milliseconds()}, client.IO{Stdout: out, Stderr: writerFunc(nil)})
	pids := firstPIDs(t, out, 2)
	o.waitRetry(t)
	if left := rexectest.WaitGone(timeout+killWait, pids...); len(left) > 0 {
		t.Fatalf("processes %v alive %v after the start, the connection down: the timeout did not fire", left, time.Since(start))
	}
	if gone := time.Since(start); gone < timeout {
		t.Fatalf("tree gone %v after the start, before the %v timeout", gone, timeout)
	}
	o.reopen()
	r := <-done
	if r.err != nil || !r.res.Exit.TimedOut || r.res.Exit.Code != outcome.ExitTimedOut {
		t.Fatalf("run = %+v, %v; want timed out, exit %d", r.res.Exit, r.err, outcome.ExitTimedOut)
	}
	o.Close()
	e.checkSettled(t, before)
}

// TestPTYCutNotResumed: a run on a terminal is never resumable, whatever
// the client asks (rexec run -t asks for resumption, rexec shell does
// not): a cut ends it as before, connection_lost at once with no
// reconnection, and the server kills the tree at once although its
// resume window is long.
func TestPTYCutNotResumed(t *testing.T) {
	e := startEnv(t, server.Config{ResumeWindow: time.Hour})
	before := quiet(t)
	const script = "sleep 30 & echo $!; head -c 200000 /dev/zero | tr '\\0' x; wait"
	tests := []struct {
		name   string
		resume bool
		req    protocol.Exec
		stdin  string // typed into the session
	}{
		{"run -t", true, protocol.Exec{Command: script, PTY: true, Term: "xterm", Rows: 24, Cols: 80}, ""},
		{"shell", false, protocol.Exec{PTY: true, Term: "xterm", Rows: 24, Cols: 80}, script + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOutage(t, e)
			o.reopen() // a reconnection would get through: none may come
			cfg := e.resumableVia(o)
			cfg.Resume = tt.resume
			ctx, cancel := context.WithTimeout(context.Background(), outageTimeout)
			defer cancel()
			c, err := client.Dial(ctx, cfg, target)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			in, typed := io.Pipe()
			defer typed.Close()
			go typed.Write([]byte(tt.stdin))
			out := &rexectest.SyncBuffer{}
			_, err = c.Run(ctx, tt.req, client.IO{Stdin: in, Stdout: out, Stderr: writerFunc(nil)})
			if client.OutcomeOf(err) != outcome.ConnectionLost || ctx.Err() != nil {
				t.Fatalf("Run = %v; want connection_lost at the cut", err)
			}
			if n := len(o.Links()); n != 1 {
				t.Errorf("%d connections: a terminal session was resumed", n)
			}
			var pid int
			for _, l := range strings.Split(out.String(), "\n") {
				if n, err := strconv.Atoi(strings.TrimSpace(l)); err == nil && n > 1 {
					pid = n
					break
				}
			}
			if pid == 0 {
				t.Fatalf("no pid in the terminal's output %q", out.String()[:min(len(out.String()), 300)])
			}
			if left := rexectest.WaitGone(killWait, pid); len(left) > 0 {
				t.Errorf("the session's child %d outlived the cut by %v: held for a resume?", pid, killWait)
			}
			o.Close()
		})
	}
	e.checkSettled(t, before)
}
