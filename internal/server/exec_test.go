//go:build linux

package server

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
)

// TestExec runs one command per case on its own connection and checks the
// streams and the exit message.
func TestExec(t *testing.T) {
	ts := startServer(t, Config{})
	cwd := t.TempDir()
	tests := []struct {
		name       string
		req        protocol.Exec
		stdin      string
		wantStdout string
		wantStderr string
		wantExit   protocol.Exit // DurationMS is not compared
		anyStderr  bool          // stderr is not compared (login scripts may write there)
		// check, when set, replaces the stdout and exit comparisons.
		check func(t *testing.T, r result)
	}{
		{name: "exit code", req: protocol.Exec{Command: "exit 7"}, wantExit: protocol.Exit{Code: 7}},
		{name: "true", req: protocol.Exec{Argv: []string{"true"}}, wantExit: protocol.Exit{Code: 0}},
		{name: "killed by SIGKILL", req: protocol.Exec{Command: "kill -9 $$"},
			wantExit: protocol.Exit{Code: 137, Signal: "KILL", SignalNumber: 9}},
		{name: "killed by SIGTERM", req: protocol.Exec{Command: "kill -TERM $$"},
			wantExit: protocol.Exit{Code: 143, Signal: "TERM", SignalNumber: 15}},
		{name: "stdout and stderr", req: protocol.Exec{Command: "echo out; echo err >&2"},
			wantStdout: "out\n", wantStderr: "err\n"},
		{name: "argv is not re-split or expanded",
			req:        protocol.Exec{Argv: []string{"printf", `%s\n`, "a b", "$(id)", "*", ""}},
			wantStdout: "a b\n$(id)\n*\n\n"},
		{name: "stdin then eof", req: protocol.Exec{Command: "wc -l"}, stdin: "a\nb\n",
			check: func(t *testing.T, r result) {
				if got := strings.TrimSpace(r.stdout); got != "2" {
					t.Errorf("wc -l of %q = %q, want 2", "a\nb\n", got)
				}
				if r.acked != 4 || r.exit.Code != 0 {
					t.Errorf("stdin_ack total = %d, exit %+v; want 4 and code 0", r.acked, r.exit)
				}
			}},
		{name: "no stdin", req: protocol.Exec{Argv: []string{"cat"}}},
		{name: "env", req: protocol.Exec{Command: `printf '%s' "$REXEC_TEST_VAR"`,
			Env: map[string]string{"REXEC_TEST_VAR": "x y=z"}}, wantStdout: "x y=z"},
		{name: "cwd", req: protocol.Exec{Argv: []string{"pwd"}, Cwd: cwd}, wantStdout: cwd + "\n"},
		{name: "session marker", req: protocol.Exec{Command: `test -n "$REXEC_SESSION" && echo marked`},
			wantStdout: "marked\n"},
		{name: "program not found", req: protocol.Exec{Argv: []string{"/nonexistent/rexec-test"}},
			check: func(t *testing.T, r result) {
				if r.exit.Code != 127 || r.exit.Error == "" {
					t.Errorf("exit = %+v, want code 127 and an error", r.exit)
				}
			}},
		{name: "missing cwd", req: protocol.Exec{Argv: []string{"true"}, Cwd: "/nonexistent/rexec-test"},
			check: func(t *testing.T, r result) {
				if r.exit.Code != 127 || r.exit.Error == "" {
					t.Errorf("exit = %+v, want code 127 and an error", r.exit)
				}
			}},
		{name: "login shell reads stdin", req: protocol.Exec{}, stdin: "echo from-login\nexit 3\n", anyStderr: true,
			check: func(t *testing.T, r result) {
				if !strings.Contains(r.stdout, "from-login\n") || r.exit.Code != 3 {
					t.Errorf("login shell: stdout %q, exit %+v; want from-login and code 3", r.stdout, r.exit)
				}
			}},
		{name: "pty", req: protocol.Exec{Command: `test -t 0 && test -t 1 && echo tty; stty size`,
			PTY: true, Rows: 24, Cols: 80}, wantStdout: "tty\r\n24 80\r\n"},
		{name: "timeout kills the tree", req: protocol.Exec{Command: "echo $$; exec sleep 100", TimeoutMS: 1000},
			check: func(t *testing.T, r result) {
				if r.exit.Code != 124 || !r.exit.TimedOut {
					t.Errorf("exit = %+v, want code 124 and timed_out", r.exit)
				}
				var pid int
				if _, err := fmt.Sscan(r.stdout, &pid); err != nil {
					t.Fatalf("stdout %q holds no pid", r.stdout)
				}
				rexectest.CheckGone(t, killWait, pid)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.dial(t)
			r := c.mustRun(t, tt.req, tt.stdin)
			if r.exit == nil {
				t.Fatalf("exec(%+v) = %v, want an exit message", tt.req, r)
			}
			if !tt.anyStderr && r.stderr != tt.wantStderr {
				t.Errorf("exec(%+v) stderr = %q, want %q", tt.req, r.stderr, tt.wantStderr)
			}
			if tt.check != nil {
				tt.check(t, r)
				return
			}
			if r.stdout != tt.wantStdout {
				t.Errorf("exec(%+v) stdout = %q, want %q", tt.req, r.stdout, tt.wantStdout)
			}
			got := *r.exit
			got.DurationMS = 0
			if got != tt.wantExit {
				t.Errorf("exec(%+v) exit = %+v, want %+v", tt.req, got, tt.wantExit)
			}
		})
	}
}

// TestExecSignal forwards signals to the running command's group.
func TestExecSignal(t *testing.T) {
	ts := startServer(t, Config{})
	tests := []struct {
		signal   string
		command  string
		wantExit protocol.Exit
	}{
		{"INT", "echo ready; exec sleep 100", protocol.Exit{Code: 130, Signal: "INT", SignalNumber: 2}},
		{"TERM", "echo ready; exec sleep 100", protocol.Exit{Code: 143, Signal: "TERM", SignalNumber: 15}},
		{"USR1", "trap 'echo got; exit 3' USR1; echo ready; while :; do sleep 0.05; done",
			protocol.Exit{Code: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.signal, func(t *testing.T) {
			c := ts.dial(t)
			if err := c.send(protocol.Exec{Command: tt.command}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.readLines(1); err != nil {
				t.Fatalf("waiting for ready: %v", err)
			}
			// An unknown name is ignored, not fatal: the next one still works.
			for _, sig := range []string{"NOSUCHSIG", tt.signal} {
				if err := c.send(protocol.Signal{Signal: sig}); err != nil {
					t.Fatal(err)
				}
			}
			r, err := c.collect()
			if err != nil || r.exit == nil {
				t.Fatalf("after signal %s: %v, %v; want an exit", tt.signal, r, err)
			}
			got := *r.exit
			got.DurationMS = 0
			if got != tt.wantExit {
				t.Errorf("signal %s to %q: exit = %+v, want %+v", tt.signal, tt.command, got, tt.wantExit)
			}
		})
	}
}

// TestResize changes a PTY session's window size.
func TestResize(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	err := c.send(protocol.Exec{PTY: true, Rows: 24, Cols: 80,
		Command: `trap 'stty size; exit 0' WINCH; echo ready; while :; do sleep 0.05; done`})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.readLines(1); err != nil {
		t.Fatalf("waiting for ready: %v", err)
	}
	if err := c.send(protocol.Resize{Rows: 30, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	r, err := c.collect()
	if err != nil || r.exit == nil || r.exit.Code != 0 || !strings.Contains(r.stdout, "30 100") {
		t.Errorf("after resize to 30x100: %v, %v; want stty size 30 100 and exit 0", r, err)
	}
}

// TestInputWithoutSession: session input with no session running (late
// input after an exit) is dropped, and the connection stays usable.
func TestInputWithoutSession(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	for _, m := range []protocol.Message{
		protocol.Data{Stream: protocol.TypeStdin, Body: []byte("late\n")},
		protocol.StdinEOF{},
		protocol.Signal{Signal: "INT"},
		protocol.Resize{Rows: 10, Cols: 10},
		protocol.Pong{},
		protocol.Ping{},
	} {
		if err := c.send(m); err != nil {
			t.Fatal(err)
		}
	}
	if m, err := c.recv(); err != nil || m != (protocol.Pong{}) {
		t.Fatalf("ping after stray input = %#v, %v; want pong", m, err)
	}
	r := c.mustRun(t, protocol.Exec{Command: "echo ok"}, "")
	if r.exit == nil || r.exit.Code != 0 || r.stdout != "ok\n" {
		t.Errorf("exec after stray input = %v, want ok and exit 0", r)
	}
}

// TestSequentialSessions reuses one connection: every exec gets exactly one
// exit, and an exec sent right after an exit is never refused as busy.
func TestSequentialSessions(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	for i := range 20 {
		want := fmt.Sprintf("run %d\n", i)
		r := c.mustRun(t, protocol.Exec{Command: "echo " + strings.TrimSpace(want)}, "")
		if r.err != nil || r.exit == nil || r.exit.Code != 0 || r.stdout != want {
			t.Fatalf("exec %d = %v, want stdout %q and exit 0", i, r, want)
		}
	}
	// A second exit would arrive before the pong.
	if err := c.send(protocol.Ping{}); err != nil {
		t.Fatal(err)
	}
	m, err := c.recv()
	if _, ok := m.(protocol.Pong); err != nil || !ok {
		t.Fatalf("after the last exit, ping got %#v, %v; want pong", m, err)
	}
}

// TestBusy sends an exec while one runs: the server answers busy, closes
// the connection, kills the running tree and never starts the second one.
func TestBusy(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	if err := c.send(protocol.Exec{Command: "echo $$; exec sleep 100"}); err != nil {
		t.Fatal(err)
	}
	pids := c.readPIDs(t, 1)
	marker := filepath.Join(ts.dir, "second-ran")
	if err := c.send(protocol.Exec{Argv: []string{"touch", marker}}); err != nil {
		t.Fatal(err)
	}
	r, err := c.collect()
	if r.err == nil || r.err.Code != protocol.CodeBusy {
		t.Fatalf("exec while running = %v, %v; want error code %q", r, err, protocol.CodeBusy)
	}
	if _, err := readUntilClosed(c.tc, testTimeout); err != nil {
		t.Errorf("after busy: %v, want the connection closed", err)
	}
	rexectest.CheckGone(t, killWait, pids...)
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the refused exec ran: %s exists", marker)
	}
	ts.checkOK(t)
}

// TestClientVanishes drops the TCP connection under a tree with a
// background child, a setsid child and a double-forked orphan: all of them
// are killed.
func TestClientVanishes(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	const cmd = `echo $$; sleep 1000 & echo $!; ` +
		`setsid sh -c 'echo $$; exec sleep 1001' & ` +
		`(sh -c 'echo $$; exec sleep 1002' &); wait`
	if err := c.send(protocol.Exec{Command: cmd}); err != nil {
		t.Fatal(err)
	}
	pids := c.readPIDs(t, 4)
	waitAlive(t, "sleep", pids[1:]...)
	c.nc.Close() // no close_notify, no goodbye: the client is just gone
	rexectest.CheckGone(t, killWait, pids...)
	ts.checkOK(t)
}

// TestStdinWindowEnforced sends more unacknowledged stdin than the window
// to a command that never reads it: a protocol error, and the tree dies.
func TestStdinWindowEnforced(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	if err := c.send(protocol.Exec{Command: "echo $$; exec sleep 100"}); err != nil {
		t.Fatal(err)
	}
	pids := c.readPIDs(t, 1)
	// sleep never reads: once its stdin pipe (grown to 1 MiB on Linux, as
	// session grows its pipes) is full, nothing is acknowledged, and the
	// frame that crosses the window is refused. Sending exactly that much
	// leaves nothing unread for the server to reset on.
	const stdinPipe = 1 << 20
	chunk := make([]byte, 256<<10)
	for sent := 0; sent <= protocol.StdinWindow+stdinPipe; sent += len(chunk) {
		if err := c.send(protocol.Data{Stream: protocol.TypeStdin, Body: chunk}); err != nil {
			break // the server may already have closed the connection
		}
	}
	codes, err := readUntilClosed(c.tc, testTimeout)
	if err != nil {
		t.Errorf("after overrunning the stdin window: %v", err)
	}
	if !contains(codes, protocol.CodeProtocol) {
		t.Errorf("overrunning the stdin window: error codes %q, want %q", codes, protocol.CodeProtocol)
	}
	rexectest.CheckGone(t, killWait, pids...)
	ts.checkOK(t)
}

// TestBulkThroughCat streams 64 MiB into cat and back, honouring the stdin
// window: the bytes arrive in order and complete (same sha256).
func TestBulkThroughCat(t *testing.T) {
	const total = 64 << 20
	const chunk = 256 << 10
	ts := startServer(t, Config{})
	c := ts.dial(t)
	if err := c.send(protocol.Exec{Argv: []string{"cat"}}); err != nil {
		t.Fatal(err)
	}
	acks := make(chan int64, total/chunk+1) // one ack per stdin frame at most: never blocks
	quit := make(chan struct{})
	var wg sync.WaitGroup
	var sentSum [sha256.Size]byte
	var sendErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		sentSum, sendErr = sendStdin(c, total, chunk, acks, quit)
	}()
	h := sha256.New()
	var got, acked int64
	var exit *protocol.Exit
	for exit == nil {
		m, err := c.recv()
		if err != nil {
			close(quit)
			wg.Wait()
			t.Fatalf("after %d bytes of stdout: %v", got, err)
		}
		switch m := m.(type) {
		case protocol.Data:
			if m.Stream != protocol.TypeStdout {
				t.Errorf("unexpected %s: %q", m.Stream, m.Body)
				continue
			}
			h.Write(m.Body)
			got += int64(len(m.Body))
		case protocol.StdinAck:
			acked += m.Count
			acks <- m.Count
		case protocol.Exit:
			exit = &m
		default:
			t.Errorf("unexpected %#v", m)
		}
	}
	close(quit)
	wg.Wait()
	if sendErr != nil {
		t.Fatalf("sending stdin: %v", sendErr)
	}
	if exit.Code != 0 {
		t.Errorf("cat exit = %+v, want code 0", exit)
	}
	if got != total || acked != total {
		t.Errorf("stdout %d bytes, acknowledged %d; want %d each", got, acked, total)
	}
	if sum := h.Sum(nil); string(sum) != string(sentSum[:]) {
		t.Errorf("sha256 of stdout = %x, want %x (of stdin)", sum, sentSum)
	}
}

// sendStdin sends total pseudo-random bytes as stdin frames of chunk bytes,
// never more than protocol.StdinWindow unacknowledged, then stdin_eof.
func sendStdin(c *testClient, total, chunk int, acks <-chan int64, quit <-chan struct{}) ([sha256.Size]byte, error) {
	src := rand.NewChaCha8([32]byte{'r', 'e', 'x', 'e', 'c'})
	h := sha256.New()
	buf := make([]byte, chunk)
	inflight := 0
	for sent := 0; sent < total; {
		n := min(chunk, total-sent)
		for inflight+n > protocol.StdinWindow {
			select {
			case a := <-acks:
				inflight -= int(a)
			case <-quit:
				return [sha256.Size]byte{}, fmt.Errorf("stopped after %d bytes", sent)
			}
		}
		_, _ = src.Read(buf[:n])
		h.Write(buf[:n])
		if err := c.send(protocol.Data{Stream: protocol.TypeStdin, Body: buf[:n]}); err != nil {
			return [sha256.Size]byte{}, err
		}
		inflight += n
		sent += n
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum, c.send(protocol.StdinEOF{})
}

// TestConcurrentClients runs 100 clients at once; every one gets its output
// and exit 0.
func TestConcurrentClients(t *testing.T) {
	const clients = 100
	ts := startServer(t, Config{})
	deadline := time.Now().Add(60 * time.Second)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- concurrentClient(ts, i, deadline)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func concurrentClient(ts *testServer, i int, deadline time.Time) error {
	c, err := ts.connect(ts.client)
	if err != nil {
		return fmt.Errorf("client %d: connect = %v", i, err)
	}
	defer c.close()
	if err := c.send(protocol.Exec{Command: "sleep 1; echo ok"}); err != nil {
		return fmt.Errorf("client %d: %v", i, err)
	}
	c.nc.SetDeadline(deadline) // collect's own deadlines are later: this one bounds the test
	var r result
	var out, errOut strings.Builder
	for r.exit == nil && r.err == nil {
		m, err := c.pc.Recv()
		if err == nil {
			err = r.add(m, &out, &errOut)
		}
		if err != nil {
			return fmt.Errorf("client %d: %v after %q", i, err, out.String())
		}
	}
	if r.exit == nil || r.exit.Code != 0 || out.String() != "ok\n" {
		return fmt.Errorf("client %d: stdout %q, exit %+v, error %+v; want \"ok\\n\" and exit 0",
			i, out.String(), r.exit, r.err)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
