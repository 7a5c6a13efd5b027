//go:build linux

package reliability

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
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
