//go:build linux

package server

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
)

// shutdownAsync calls Shutdown(ctx) in a goroutine; the channel gets its
// result.
func shutdownAsync(ts *testServer, ctx context.Context) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- ts.Shutdown(ctx) }()
	return errc
}

// waitShutdown returns Shutdown's result, failing if it has not returned
// within testTimeout.
func waitShutdown(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(testTimeout):
		t.Fatalf("Shutdown did not return within %v", testTimeout)
		return nil
	}
}

// checkServeReturned fails unless Serve has returned ErrServerClosed.
func checkServeReturned(t *testing.T, ts *testServer) {
	t.Helper()
	select {
	case <-ts.served.Done():
		if !errors.Is(ts.served.Err(), ErrServerClosed) {
			t.Errorf("Serve() = %v, want ErrServerClosed", ts.served.Err())
		}
	case <-time.After(testTimeout):
		t.Fatal("Serve did not return after Shutdown")
	}
}

// TestShutdownKillsSessions: a short ctx expires under a running session;
// Shutdown kills its tree, tells its client so, closes every connection
// and returns ctx's error.
func TestShutdownKillsSessions(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	if err := c.send(protocol.Exec{Command: "echo $$; exec sleep 100"}); err != nil {
		t.Fatal(err)
	}
	pids := c.readPIDs(t, 1)
	idle := ts.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := waitShutdown(t, shutdownAsync(ts, ctx)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown(short ctx) = %v, want context.DeadlineExceeded", err)
	}
	rexectest.CheckGone(t, killWait, pids...)
	// The session's client is told why (error unavailable), then closed.
	r, err := c.collect()
	if err == nil && (r.err == nil || r.err.Code != protocol.CodeUnavailable) {
		t.Errorf("session connection after Shutdown: %v, want error unavailable, then closed", r)
	}
	if err == nil {
		if r, err := c.collect(); err == nil {
			t.Errorf("session connection after its unavailable error: %v, want it closed", r)
		}
	}
	if _, err := readUntilClosed(idle.tc, testTimeout); err != nil {
		t.Errorf("idle connection after Shutdown: %v", err)
	}
	checkServeReturned(t, ts)
	if nc, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		nc.Close()
		t.Errorf("dial after Shutdown succeeded, want the listener closed")
	}
}

// TestShutdownDrains: with a long ctx a running session completes and its
// client gets the exit before Shutdown returns nil; new connections are
// refused and idle ones closed meanwhile.
func TestShutdownDrains(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	if err := c.send(protocol.Exec{Command: "echo start; sleep 0.5; echo done"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.readLines(1); err != nil {
		t.Fatal(err)
	}
	idle := ts.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	errc := shutdownAsync(ts, ctx)
	if _, err := readUntilClosed(idle.tc, testTimeout); err != nil {
		t.Errorf("idle connection during the drain: %v", err)
	}
	refused := rexectest.Eventually(testTimeout, func() bool {
		nc, err := net.DialTimeout("tcp", ts.addr, time.Second)
		if err == nil {
			nc.Close()
		}
		return err != nil
	})
	if !refused {
		t.Error("new connections still accepted during the drain")
	}
	r, err := c.collect()
	if err != nil || r.exit == nil || r.exit.Code != 0 || r.stdout != "done\n" {
		t.Errorf("session during the drain = %v, %v; want stdout \"done\\n\" and exit 0", r, err)
	}
	if err := waitShutdown(t, errc); err != nil {
		t.Errorf("Shutdown(long ctx) = %v, want nil", err)
	}
	checkServeReturned(t, ts)
}

// TestShutdownRefusesNewSessions: a client that sends another exec right
// after its exit, during the drain, must not keep the server alive.
func TestShutdownRefusesNewSessions(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	if err := c.send(protocol.Exec{Command: "echo start; sleep 0.3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.readLines(1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := shutdownAsync(ts, ctx)
	r, err := c.collect()
	if err != nil || r.exit == nil || r.exit.Code != 0 {
		t.Fatalf("session during the drain = %v, %v; want exit 0", r, err)
	}
	if err := c.send(protocol.Exec{Command: "echo $$; exec sleep 100"}); err == nil {
		codes, err := readUntilClosed(c.tc, testTimeout)
		if err != nil {
			t.Errorf("exec during the drain: %v", err)
		}
		for _, code := range codes {
			if code != protocol.CodeUnavailable {
				t.Errorf("exec during the drain: error code %q, want %q or none", code, protocol.CodeUnavailable)
			}
		}
	}
	if err := waitShutdown(t, errc); err != nil {
		t.Errorf("Shutdown = %v, want nil (the drain must not wait for a session started during it)", err)
	}
	if left := rexectest.WaitNoSessionProcs(killWait); len(left) > 0 {
		t.Errorf("session processes alive after Shutdown: %v", left)
	}
}

// TestServeAfterShutdown: Serve and ServeConn on a closed server refuse at
// once.
func TestServeAfterShutdown(t *testing.T) {
	ts := startServer(t, Config{})
	if err := ts.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := ts.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close = %v, want ErrServerClosed", err)
	}
	srv, cli := net.Pipe()
	defer cli.Close()
	ts.ServeConn(srv) // must return at once, closing srv
	cli.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := cli.Read(make([]byte, 1)); err == nil {
		t.Error("ServeConn after Close left the connection open")
	}
}

// TestServeConnPipe serves one connection over a net.Pipe, as --stdio does
// over stdin and stdout.
func TestServeConnPipe(t *testing.T) {
	ts := startServer(t, Config{})
	srv, cli := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		ts.ServeConn(srv)
	}()
	c, err := handshake(cli, ts.client, ts.host.Public, protocol.Hello{Version: protocol.Version})
	if err != nil {
		cli.Close()
		<-done
		t.Fatalf("handshake over a pipe = %v", err)
	}
	tests := []struct {
		req        protocol.Exec
		stdin      string
		wantStdout string
	}{
		{protocol.Exec{Command: "echo ok"}, "", "ok\n"},
		{protocol.Exec{Argv: []string{"cat"}}, "through\nthe pipe\n", "through\nthe pipe\n"},
	}
	for _, tt := range tests {
		r := c.mustRun(t, tt.req, tt.stdin)
		if r.exit == nil || r.exit.Code != 0 || r.stdout != tt.wantStdout {
			t.Errorf("over a pipe: exec(%+v) = %v, want stdout %q and exit 0", tt.req, r, tt.wantStdout)
		}
	}
	c.close()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatal("ServeConn did not return after the client closed")
	}
}

// TestNotIdleUntilExitSent: between a session leaving active (so the next
// exec is not refused as busy) and its exit frame being written, Shutdown
// must not close the connection as idle, or the client would lose the exit
// of a command that completed.
func TestNotIdleUntilExitSent(t *testing.T) {
	srv, cli := net.Pipe()
	defer cli.Close()
	c := &serverConn{nc: srv}
	s := &execSession{c: c}
	c.active = s
	c.clearActive(s)
	c.closeIfIdle()
	if c.closed {
		t.Fatal("closeIfIdle closed the connection before the exit was sent")
	}
	c.exitSent()
	c.closeIfIdle()
	if !c.closed {
		t.Fatal("closeIfIdle left an idle connection open")
	}
}
