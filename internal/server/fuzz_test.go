//go:build linux

package server

import (
	"bytes"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/protocol/frame"
	"github.com/rexec-dev/rexec/internal/rexectest"
)

// FuzzServerConn feeds arbitrary bytes to an authenticated connection's
// request loop (what a client sends after TLS and hello), over a net.Pipe.
// Whatever arrives, the connection must end without a panic, within a
// bounded time, and leave no session process behind; TestMain's goleak
// check covers goroutines.
//
// Safety: the fuzzer may forge exec frames, and a command string runs
// through the user's login shell, so nothing can make arbitrary execs
// harmless. Inputs are therefore decoded first, exactly as the server will
// decode them, and skipped if any exec is not one of allowedExec's: `true`
// or `cat`, without env (BASH_ENV, LD_PRELOAD...) and never a login shell.
// The rest of every exec (cwd, pty, size, timeout) and every other message
// type are fuzzed freely.
func FuzzServerConn(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	for _, in := range badInputs {
		if in.tls {
			f.Add(in.data)
		}
	}
	s, err := New(Config{HostKey: newIdentity(f, "host"), KillGrace: 100 * time.Millisecond})
	if err != nil {
		f.Fatalf("New = %v", err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		safe, execs := checkExecs(data)
		if !safe {
			t.Skip("input execs a command outside the allow-list")
		}
		serveBytes(t, s, data, execs)
	})
}

// serveBytes runs the post-authentication part of serverConn.serve on a
// pipe, writes data into it, and hangs up once data is written (or the
// server stopped reading). With execs, it first gives a short session
// (true, cat at EOF) a moment to end by itself, so that the exit path is
// fuzzed as well as the kill path.
func serveBytes(t *testing.T, s *Server, data []byte, execs bool) {
	srv, cli := net.Pipe()
	c := &serverConn{s: s, nc: srv, remote: "fuzz", log: s.log, pc: protocol.NewConn(srv),
		key: &auth.AuthorizedKey{Comment: "fuzz"}, acct: s.ownAccount()}
	served := make(chan struct{})
	go func() { // as serve does once authenticate succeeded
		defer close(served)
		defer c.pc.Close()
		_ = c.loop()
		c.endSession()
	}()
	read := make(chan struct{})
	go func() {
		defer close(read)
		_, _ = io.Copy(io.Discard, cli)
	}()
	written := make(chan struct{})
	go func() {
		defer close(written)
		_, _ = cli.Write(data)
	}()
	select {
	case <-served:
	case <-written:
		if execs {
			select {
			case <-served:
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	cli.Close()
	select {
	case <-served:
	case <-time.After(testTimeout):
		t.Fatalf("connection still served %v after the client hung up (input %q)", testTimeout, data)
	}
	<-written
	<-read
	if left := rexectest.WaitNoSessionProcs(killWait); len(left) > 0 {
		t.Fatalf("session processes %v left after input %q", left, data)
	}
}

// checkExecs decodes data as the server's loop will (it stops at the first
// frame that fails to decode) and reports whether every exec in it is
// allowed and whether there is any.
func checkExecs(data []byte) (safe, execs bool) {
	r := frame.NewReader(bytes.NewReader(data))
	for {
		f, err := r.Next()
		if err != nil {
			return true, execs
		}
		m, err := protocol.Decode(f)
		if err != nil {
			return true, execs
		}
		if e, ok := m.(protocol.Exec); ok {
			if !allowedExec(e) {
				return false, true
			}
			execs = true
		}
	}
}

// allowedExec admits only commands that can do no harm whatever their
// stdin, directory, terminal or timeout.
func allowedExec(e protocol.Exec) bool {
	if len(e.Env) > 0 {
		return false
	}
	for _, ok := range []string{"true", "cat"} {
		if (e.Command == ok && len(e.Argv) == 0) || (e.Command == "" && slices.Equal(e.Argv, []string{ok})) {
			return true
		}
	}
	return false
}

// fuzzSeeds are valid conversations (after hello) that reach every request
// path: exec, stdin, eof, signal, resize, ping, pong, busy, timeout, pty.
func fuzzSeeds() [][]byte {
	cat := frameOf(`{"type":"exec","argv":["cat"]}`, "")
	stdin := frameOf(`{"type":"stdin","size":6}`, "hello\n")
	eof := frameOf(`{"type":"stdin_eof"}`, "")
	seeds := [][]byte{
		frameOf(`{"type":"exec","command":"true"}`, ""),
		frameOf(`{"type":"exec","argv":["true"]}`, ""),
		concat(cat, stdin, eof),
		concat(frameOf(`{"type":"exec","command":"cat"}`, ""), stdin, frameOf(`{"type":"signal","signal":"TERM"}`, "")),
		concat(cat, frameOf(`{"type":"signal","signal":"NOPE"}`, ""), eof),
		concat(frameOf(`{"type":"exec","command":"cat","pty":true,"term":"vt100","rows":24,"cols":80}`, ""),
			frameOf(`{"type":"resize","rows":50,"cols":132}`, ""), stdin, eof),
		concat(frameOf(`{"type":"exec","argv":["cat"],"timeout_ms":1}`, ""), stdin),
		concat(frameOf(`{"type":"exec","argv":["cat"],"cwd":"/nonexistent"}`, ""), stdin, eof),
		concat(cat, cat),
		concat(frameOf(`{"type":"exec","command":"true"}`, ""), frameOf(`{"type":"exec","command":"true"}`, "")),
		concat(frameOf(`{"type":"ping"}`, ""), frameOf(`{"type":"pong"}`, "")),
		concat(stdin, eof, frameOf(`{"type":"resize","rows":1,"cols":1}`, ""),
			frameOf(`{"type":"signal","signal":"INT"}`, "")),
		frameOf(`{"type":"stdin","size":0}`, ""),
	}
	return seeds
}

func concat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
