//go:build linux

package server

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/jobs"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
)

// startJob starts a detached job on c that writes its pid to a file,
// "out\n" on stdout and "err\n" on stderr, and sleeps; it returns the
// job's id and pid once both lines are in its spool.
func (ts *testServer) startJob(t *testing.T, c *testClient) (string, int) {
	t.Helper()
	pidFile := filepath.Join(t.TempDir(), "pid")
	got := c.reply(t, protocol.Exec{Command: "echo $$ > " + pidFile + "; echo out; echo err >&2; exec sleep 300", Detach: true})
	started, ok := got.(protocol.JobStarted)
	if !ok {
		t.Fatalf("detached exec: %#v, want job_started", got)
	}
	var pid int
	if !rexectest.Eventually(testTimeout, func() bool {
		b, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		j, err := ts.cfg.Jobs.Get(ts.owner(), started.ID)
		return pid > 0 && err == nil && j.Info().Written == [2]int64{4, 4}
	}) {
		t.Fatalf("job %s: no pid or output", started.ID)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) }) // a failed test leaves no process
	return started.ID, pid
}

// TestJobRequestsRefused: attach and kill of a job that does not exist,
// of another key's or another account's job, attach from offsets past
// what the job wrote, and an unknown signal are each refused with a
// clear non-fatal error: the connection stays usable, nothing starts,
// the job goes on untouched, and no attach is left following it; the
// other key lists no job.
func TestJobRequestsRefused(t *testing.T) {
	noLeaks(t)
	ts := startJobServer(t, longWindow)
	owner := ts.dial(t)
	id, pid := ts.startJob(t, owner)
	const unknown = "0123456789abcdef"
	tests := []struct {
		name string
		conn func(t testing.TB) *testClient
		msg  protocol.Message
		code string
	}{
		{"attach unknown job", ts.dial, protocol.Attach{ID: unknown}, protocol.CodeUnknownJob},
		{"kill unknown job", ts.dial, protocol.Kill{ID: unknown}, protocol.CodeUnknownJob},
		{"attach another key's job", ts.otherKey, protocol.Attach{ID: id}, protocol.CodeUnknownJob},
		{"kill another key's job", ts.otherKey, protocol.Kill{ID: id, Signal: "KILL"}, protocol.CodeUnknownJob},
		{"attach another account's job", ts.otherAccount, protocol.Attach{ID: id}, protocol.CodeUnknownJob},
		{"kill another account's job", ts.otherAccount, protocol.Kill{ID: id, Signal: "KILL"}, protocol.CodeUnknownJob},
		{"stdout past the end", ts.dial, protocol.Attach{ID: id, Stdout: 5}, protocol.CodeBadRequest},
		{"stderr past the end", ts.dial, protocol.Attach{ID: id, Stderr: 1 << 40}, protocol.CodeBadRequest},
		{"unknown signal", ts.dial, protocol.Kill{ID: id, Signal: "NOPE"}, protocol.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.conn(t)
			wantError(t, c.reply(t, tt.msg), tt.code)
			stillServes(t, c)
			sameProcs(t, []int{pid})
			if ts.following() != 0 {
				t.Errorf("%d attaches still follow a job", ts.following())
			}
			if in := ts.jobInfo(t, id); !in.Running() || in.Written != [2]int64{4, 4} {
				t.Errorf("job after the refusal: %+v", in)
			}
		})
	}
	t.Run("another key lists nothing", func(t *testing.T) {
		c := ts.otherKey(t)
		if got := c.reply(t, protocol.Jobs{}); got != (protocol.JobsEnd{}) {
			t.Errorf("another key's listing: %#v, want jobs_end alone", got)
		}
	})
	// The owner still can: attach from the end follows it, kill ends it.
	if got := owner.reply(t, protocol.Attach{ID: id, Stdout: 4, Stderr: 4}); got != (protocol.Attached{Stdout: 4, Stderr: 4}) {
		t.Fatalf("the owner's attach: %#v", got)
	}
	killer := ts.dial(t)
	if got := killer.reply(t, protocol.Kill{ID: id, Signal: "KILL"}); got != (protocol.KillOK{}) {
		t.Fatalf("the owner's kill: %#v", got)
	}
	m, err := owner.recv()
	if exit, ok := m.(protocol.Exit); err != nil || !ok || exit.Signal != "KILL" {
		t.Fatalf("attach after kill: %#v, %v; want the exit of SIGKILL", m, err)
	}
	rexectest.CheckGone(t, killWait, pid)
	if !rexectest.Eventually(testTimeout, func() bool { return ts.following() == 0 }) {
		t.Errorf("the ended attach still follows the job")
	}
}

// following counts the connections with an attach in progress.
func (ts *testServer) following() int {
	ts.mu.Lock()
	conns := make([]*serverConn, 0, len(ts.conns))
	for c := range ts.conns {
		conns = append(conns, c)
	}
	ts.mu.Unlock()
	n := 0
	for _, c := range conns {
		c.mu.Lock()
		if c.follow != nil {
			n++
		}
		c.mu.Unlock()
	}
	return n
}

// owner is the test key's owner of jobs on ts: the key, and the
// daemon's own account, which the test's hello asks for by default.
func (ts *testServer) owner() jobs.Owner {
	me, _ := user.Current()
	return jobs.Owner{Key: auth.Fingerprint(ts.client.Public), Account: me.Username}
}

// jobInfo is job id's state, as its owner sees it.
func (ts *testServer) jobInfo(t *testing.T, id string) jobs.Info {
	t.Helper()
	j, err := ts.cfg.Jobs.Get(ts.owner(), id)
	if err != nil {
		t.Fatalf("the owner's job %s: %v", id, err)
	}
	return j.Info()
}
