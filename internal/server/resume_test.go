//go:build linux

package server

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/jobs"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
)

// Bad input to resumable sessions and detached jobs, on real sockets
// (docs/PROTOCOL.md §9, docs/SECURITY.md "Detached jobs" and "Resumable
// sessions"): each refusal is a clear, non-fatal error, nothing runs,
// the session or job it aimed at is untouched, and no process or
// goroutine is left after the test.

// heldScript is a resumable session's command: a child that would outlive
// its shell if nobody killed the tree, both pids on stdout, a line on
// stderr, then a wait that never ends by itself.
const heldScript = `sleep 300 & echo $!; echo $$; echo held >&2; wait`

// longWindow is a resume window no test waits for: a session that ends
// within killWait was ended by something else (abort, the timeout).
const longWindow = time.Hour

// noLeaks fails the test if a goroutine started during it is left once
// its cleanups (the server's Close among them) have run. Call it first,
// so that its cleanup runs last.
func noLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) })
}

// startJobServer starts a server that keeps detached jobs in a fresh
// store and holds resumable sessions for window.
func startJobServer(t *testing.T, window time.Duration) *testServer {
	t.Helper()
	store, err := jobs.Open(jobs.Config{Dir: filepath.Join(t.TempDir(), "jobs")})
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, Config{Jobs: store, ResumeWindow: window, KillGrace: 100 * time.Millisecond})
}

// otherKey authorizes a second identity on ts and connects with it.
func (ts *testServer) otherKey(t testing.TB) *testClient {
	t.Helper()
	other := newIdentity(t, "other@test")
	if _, err := auth.AppendAuthorizedKey(ts.keysPath, other.Public, other.Comment); err != nil {
		t.Fatal(err)
	}
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	c, err := ts.connect(other)
	if err != nil {
		t.Fatalf("connect as another key: %v", err)
	}
	t.Cleanup(c.close)
	return c
}

// otherAccount creates an account whose own authorized_keys holds the
// test's key, and connects with that key as the account: the same key,
// another account (root only: rexectest.NewAccount skips otherwise).
func (ts *testServer) otherAccount(t testing.TB) *testClient {
	t.Helper()
	a := rexectest.NewAccount(t, rexectest.AccountOptions{})
	dir := filepath.Join(a.Home, ".config", "rexec")
	for _, d := range []string{filepath.Join(a.Home, ".config"), dir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, a.UID, a.GID); err != nil {
			t.Fatal(err)
		}
	}
	keys := filepath.Join(dir, "authorized_keys")
	if _, err := auth.AppendAuthorizedKey(keys, ts.client.Public, ts.client.Comment); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(keys, a.UID, a.GID); err != nil {
		t.Fatal(err)
	}
	nc, err := net.DialTimeout("tcp", ts.addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	c, err := handshake(nc, ts.client, ts.host.Public,
		protocol.Hello{Version: protocol.Version, Software: "rexec-test", User: a.Name, UserExplicit: true})
	if err != nil {
		nc.Close()
		t.Fatalf("connect as account %s: %v", a.Name, err)
	}
	t.Cleanup(c.close)
	return c
}

// heldSession is a resumable session whose connection was closed: the
// server holds it for a resume.
type heldSession struct {
	token string
	out   [2]int64 // stdout and stderr bytes received (and acknowledged)
	pids  []int    // the child and the shell
}

// holdSession runs heldScript as a resumable session on c, reads its
// output, acknowledges it, and closes c.
func holdSession(t *testing.T, c *testClient) *heldSession {
	t.Helper()
	if err := c.send(protocol.Exec{Command: heldScript, Resume: true}); err != nil {
		t.Fatal(err)
	}
	h := &heldSession{}
	var stdout, stderr strings.Builder
	for strings.Count(stdout.String(), "\n") < 2 || stderr.String() != "held\n" {
		m, err := c.recv()
		if err != nil {
			t.Fatalf("resumable session: %v (stdout %q, stderr %q)", err, stdout.String(), stderr.String())
		}
		switch m := m.(type) {
		case protocol.ResumeToken:
			h.token = m.Token
		case protocol.Data:
			if h.token == "" {
				t.Fatal("output before the resume_token")
			}
			if m.Stream == protocol.TypeStdout {
				stdout.Write(m.Body)
				h.out[0] += int64(len(m.Body))
			} else {
				stderr.Write(m.Body)
				h.out[1] += int64(len(m.Body))
			}
		case protocol.StdinAck, protocol.Ping:
		default:
			t.Fatalf("resumable session: unexpected %#v", m)
		}
	}
	for _, f := range strings.Fields(stdout.String()) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("stdout %q: not pids", stdout.String())
		}
		h.pids = append(h.pids, pid)
	}
	t.Cleanup(func() { // a failed test leaves no process
		for _, pid := range h.pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if err := c.send(protocol.OutputAck{Stdout: h.out[0], Stderr: h.out[1]}); err != nil {
		t.Fatal(err)
	}
	stillServes(t, c) // the acknowledgement was read before the connection ends
	c.close()
	return h
}

// reply sends m and returns the first answer that is not a ping.
func (c *testClient) reply(t *testing.T, m protocol.Message) protocol.Message {
	t.Helper()
	if err := c.send(m); err != nil {
		t.Fatalf("sending %s: %v", m.Type(), err)
	}
	for {
		got, err := c.recv()
		if err != nil {
			t.Fatalf("after %s: %v", m.Type(), err)
		}
		if _, ok := got.(protocol.Ping); !ok {
			return got
		}
	}
}

// wantError fails unless got is an error frame with code.
func wantError(t *testing.T, got protocol.Message, code string) {
	t.Helper()
	if e, ok := got.(protocol.Error); !ok || e.Code != code {
		t.Fatalf("answer %#v, want error %s", got, code)
	}
}

// stillServes checks that c is open and answered: a ping gets its pong.
func stillServes(t *testing.T, c *testClient) {
	t.Helper()
	if got := c.reply(t, protocol.Ping{}); got != (protocol.Pong{}) {
		t.Fatalf("ping after a refusal: %#v, want pong", got)
	}
}

// sameProcs fails unless the session processes alive are exactly want:
// a refused request started nothing and killed nothing.
func sameProcs(t *testing.T, want []int) {
	t.Helper()
	got := rexectest.SessionProcs()
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Fatalf("session processes %v, want exactly %v", rexectest.Describe(got), want)
	}
}

// resumeAndAbort resumes h as its owner (as a resume after the refusal
// must still work), then gives it up: the tree goes at once.
func (ts *testServer) resumeAndAbort(t *testing.T, h *heldSession) {
	t.Helper()
	c := ts.dial(t)
	got := c.reply(t, protocol.Resume{Token: h.token, Stdout: h.out[0], Stderr: h.out[1]})
	if r, ok := got.(protocol.Resumed); !ok || r.Token == h.token {
		t.Fatalf("the owner's resume: %#v, want resumed with a new token", got)
	}
	if err := c.send(protocol.Abort{}); err != nil {
		t.Fatal(err)
	}
	rexectest.CheckGone(t, killWait, h.pids...)
}

// TestResumeRefused: a resume with a forged token, a spent one, another
// key's or account's token, or offsets outside what the server holds is
// refused (unknown_session, or bad_request for the offsets) on a
// connection that stays usable; nothing starts, the held session is
// untouched and its owner can still resume it.
func TestResumeRefused(t *testing.T) {
	noLeaks(t)
	ts := startJobServer(t, longWindow)
	tests := []struct {
		name string
		// conn is the connection that presents the resume; msg is what
		// it sends for the held session h.
		conn func(t testing.TB) *testClient
		msg  func(t *testing.T, h *heldSession) protocol.Resume
		code string
	}{
		{"forged token", ts.dial, func(t *testing.T, h *heldSession) protocol.Resume {
			return protocol.Resume{Token: newToken(), Stdout: h.out[0], Stderr: h.out[1]}
		}, protocol.CodeUnknownSession},
		{"spent token", ts.dial, func(t *testing.T, h *heldSession) protocol.Resume {
			spent := h.token
			c := ts.dial(t)
			r, ok := c.reply(t, protocol.Resume{Token: spent, Stdout: h.out[0], Stderr: h.out[1]}).(protocol.Resumed)
			if !ok || r.Token == spent {
				t.Fatalf("first resume: %#v, want resumed with a new token", r)
			}
			h.token = r.Token
			c.close() // held again, under the new token only
			return protocol.Resume{Token: spent, Stdout: h.out[0], Stderr: h.out[1]}
		}, protocol.CodeUnknownSession},
		{"another key", ts.otherKey, func(t *testing.T, h *heldSession) protocol.Resume {
			return protocol.Resume{Token: h.token, Stdout: h.out[0], Stderr: h.out[1]}
		}, protocol.CodeUnknownSession},
		{"same key, another account", ts.otherAccount, func(t *testing.T, h *heldSession) protocol.Resume {
			return protocol.Resume{Token: h.token, Stdout: h.out[0], Stderr: h.out[1]}
		}, protocol.CodeUnknownSession},
		{"stdout past what was sent", ts.dial, func(t *testing.T, h *heldSession) protocol.Resume {
			return protocol.Resume{Token: h.token, Stdout: h.out[0] + 1, Stderr: h.out[1]}
		}, protocol.CodeBadRequest},
		{"stderr past what was sent", ts.dial, func(t *testing.T, h *heldSession) protocol.Resume {
			return protocol.Resume{Token: h.token, Stdout: h.out[0], Stderr: h.out[1] + 1}
		}, protocol.CodeBadRequest},
		{"stdout below what was acknowledged", ts.dial, func(t *testing.T, h *heldSession) protocol.Resume {
			return protocol.Resume{Token: h.token, Stdout: 0, Stderr: h.out[1]}
		}, protocol.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.conn(t) // first: it may skip the test (accounts need root)
			h := holdSession(t, ts.dial(t))
			wantError(t, c.reply(t, tt.msg(t, h)), tt.code)
			stillServes(t, c)
			sameProcs(t, h.pids)
			ts.resumeAndAbort(t, h)
		})
	}
	if left := rexectest.WaitNoSessionProcs(killWait); len(left) > 0 {
		t.Errorf("session processes left: %v", rexectest.Describe(left))
	}
}

// TestResumeRefusedWindowStillEnds: a session whose resume was refused
// for its offsets is held again, and ends when the window passes with
// no other resume (tree killed, token dead), as if the refused resume had
// never come.
func TestResumeRefusedWindowStillEnds(t *testing.T) {
	noLeaks(t)
	const window = 500 * time.Millisecond
	ts := startJobServer(t, window)
	h := holdSession(t, ts.dial(t))
	c := ts.dial(t)
	wantError(t, c.reply(t, protocol.Resume{Token: h.token, Stdout: h.out[0] + 1}), protocol.CodeBadRequest)
	rexectest.CheckGone(t, window+killWait, h.pids...)
	wantError(t, c.reply(t, protocol.Resume{Token: h.token, Stdout: h.out[0], Stderr: h.out[1]}), protocol.CodeUnknownSession)
}

// TestResumeAbort: abort (the client's Ctrl-C twice, or ~.) ends a
// resumable session at once, without waiting for the window: the tree is
// gone within the kill bound, no exit follows, the connection stays
// usable, and the token resumes nothing afterwards. Both on the session's
// first connection and on one it was resumed on.
func TestResumeAbort(t *testing.T) {
	noLeaks(t)
	ts := startJobServer(t, longWindow)
	tests := []struct {
		name string
		// live returns the session's current connection, its token and
		// pids.
		live func(t *testing.T) (*testClient, string, []int)
	}{
		{"first connection", func(t *testing.T) (*testClient, string, []int) {
			c := ts.dial(t)
			if err := c.send(protocol.Exec{Command: heldScript, Resume: true}); err != nil {
				t.Fatal(err)
			}
			m, err := c.recv()
			tok, ok := m.(protocol.ResumeToken)
			if err != nil || !ok {
				t.Fatalf("first answer %#v, %v; want resume_token", m, err)
			}
			return c, tok.Token, c.readPIDs(t, 2)
		}},
		{"resumed connection", func(t *testing.T) (*testClient, string, []int) {
			h := holdSession(t, ts.dial(t))
			c := ts.dial(t)
			r, ok := c.reply(t, protocol.Resume{Token: h.token, Stdout: h.out[0], Stderr: h.out[1]}).(protocol.Resumed)
			if !ok {
				t.Fatalf("resume: %#v", r)
			}
			return c, r.Token, h.pids
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, token, pids := tt.live(t)
			if err := c.send(protocol.Abort{}); err != nil {
				t.Fatal(err)
			}
			rexectest.CheckGone(t, killWait, pids...)
			// The session ends without an exit; the connection answers.
			if err := c.send(protocol.Ping{}); err != nil {
				t.Fatal(err)
			}
			for done := false; !done; {
				m, err := c.recv()
				switch m.(type) {
				case protocol.Pong:
					done = true
				case protocol.Data, protocol.Ping:
				default:
					t.Fatalf("after abort: %#v, %v; want output, then the pong", m, err)
				}
			}
			wantError(t, ts.dial(t).reply(t, protocol.Resume{Token: token}), protocol.CodeUnknownSession)
		})
	}
}

// TestResumeLostExit: the exit of a resumable session that went out on
// a connection the client never read it from (cut after the server wrote
// it) is sent again on a resume, after the output the client lacks; once
// the client acknowledges an exit (output_ack with exit), the session is
// forgotten and its token resumes nothing. An acknowledgement on a
// connection with no exit awaiting one changes nothing.
func TestResumeLostExit(t *testing.T) {
	noLeaks(t)
	ts := startJobServer(t, longWindow)
	run := lostExitRun
	t.Run("not acknowledged", func(t *testing.T) {
		c := ts.dial(t)
		token, _ := run(t, c)
		c.close() // as if cut: the client never saw the exit
		r := ts.dial(t)
		if got, ok := r.reply(t, protocol.Resume{Token: token}).(protocol.Resumed); !ok || got.Token == token {
			t.Fatalf("resume after a lost exit: %#v, want resumed with a new token", got)
		}
		var out strings.Builder
		for {
			m, err := r.recv()
			if err != nil {
				t.Fatalf("after the resume: %v (stdout %q)", err, out.String())
			}
			if d, ok := m.(protocol.Data); ok {
				out.Write(d.Body)
				continue
			}
			if e, ok := m.(protocol.Exit); !ok || e.Code != 7 || out.String() != "out\n" {
				t.Fatalf("after the resume: %#v with stdout %q, want the output again, then exit 7", m, out.String())
			}
			break
		}
		if err := r.send(protocol.OutputAck{Stdout: 4, Exit: true}); err != nil {
			t.Fatal(err)
		}
		stillServes(t, r)
	})
	t.Run("acknowledged", func(t *testing.T) {
		c := ts.dial(t)
		token, n := run(t, c)
		if err := c.send(protocol.OutputAck{Stdout: n, Exit: true}); err != nil {
			t.Fatal(err)
		}
		stillServes(t, c) // the ack is read before the ping
		c.close()
		wantError(t, ts.dial(t).reply(t, protocol.Resume{Token: token, Stdout: n}), protocol.CodeUnknownSession)
	})
	t.Run("next request on the same connection", func(t *testing.T) {
		c := ts.dial(t)
		token, n := run(t, c)
		if _, ok := c.reply(t, protocol.Jobs{}).(protocol.JobsEnd); !ok {
			t.Fatal("jobs after the exit: want jobs_end")
		}
		c.close()
		wantError(t, ts.dial(t).reply(t, protocol.Resume{Token: token, Stdout: n}), protocol.CodeUnknownSession)
	})
	t.Run("acknowledged elsewhere", func(t *testing.T) {
		c := ts.dial(t)
		token, n := run(t, c)
		other := ts.dial(t)
		if err := other.send(protocol.OutputAck{Stdout: n, Exit: true}); err != nil {
			t.Fatal(err)
		}
		stillServes(t, other)
		c.close()
		if _, ok := ts.dial(t).reply(t, protocol.Resume{Token: token, Stdout: n}).(protocol.Resumed); !ok {
			t.Fatal("an acknowledgement on another connection made the session's exit unrecoverable")
		}
	})
}

// lostExitRun runs "echo out; exit 7" resumably on c up to its exit,
// which it does not acknowledge, and returns the token and the stdout
// bytes seen.
func lostExitRun(t *testing.T, c *testClient) (string, int64) {
	t.Helper()
	if err := c.send(protocol.Exec{Command: "echo out; exit 7", Resume: true}); err != nil {
		t.Fatal(err)
	}
	var token string
	var n int64
	for {
		m, err := c.recv()
		if err != nil {
			t.Fatalf("resumable run: %v", err)
		}
		switch m := m.(type) {
		case protocol.ResumeToken:
			token = m.Token
		case protocol.Data:
			n += int64(len(m.Body))
		case protocol.Exit:
			if m.Code != 7 || token == "" {
				t.Fatalf("exit %#v with token %q, want code 7 after a token", m, token)
			}
			return token, n
		}
	}
}

// TestResumeHeldExitsBounded: ended sessions whose exit awaits an
// acknowledgement are bounded by MaxSessions, as running ones are: a
// client that never acknowledges cannot pile them up. Past the bound one
// held earlier is forgotten; the latest can always be resumed.
func TestResumeHeldExitsBounded(t *testing.T) {
	noLeaks(t)
	store, err := jobs.Open(jobs.Config{Dir: filepath.Join(t.TempDir(), "jobs")})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Config{Jobs: store, ResumeWindow: longWindow, MaxSessions: 2, KillGrace: 100 * time.Millisecond})
	var tokens []string
	for range 3 {
		c := ts.dial(t)
		token, _ := lostExitRun(t, c)
		c.close()
		tokens = append(tokens, token)
	}
	resumed := 0
	for i, token := range tokens {
		m := ts.dial(t).reply(t, protocol.Resume{Token: token})
		switch m.(type) {
		case protocol.Resumed:
			resumed++
		case protocol.Error:
			if i == len(tokens)-1 {
				t.Fatalf("the latest ended session: %#v, want resumed", m)
			}
		default:
			t.Fatalf("resume %d: %#v", i, m)
		}
	}
	if resumed != 2 {
		t.Errorf("%d of 3 ended sessions resumable with a bound of 2, want 2", resumed)
	}
}
