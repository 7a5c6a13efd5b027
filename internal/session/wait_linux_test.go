package session

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pidfdWorks reports whether this kernel hands out non-blocking pidfds,
// which exitWatch needs (Linux 5.10+, no seccomp filter refusing them).
func pidfdWorks() bool {
	fd, err := unix.PidfdOpen(os.Getpid(), unix.PIDFD_NONBLOCK)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// waiters are the two ways waitMain learns of the exit.
var waiters = []struct {
	name    string
	noPidfd bool
	state   string // the state of a waiting waitMain goroutine
}{
	{"pidfd", false, "IO wait"},
	{"blocking", true, "syscall"},
}

// TestWaitStatus: both waiters report the main process's own status and
// leave it a zombie (its pid, the group id, pinned) until Close reaps it.
func TestWaitStatus(t *testing.T) {
	tests := []struct {
		name string
		cmd  string
		want Status
	}{
		{"exit 0", "true", Status{Code: 0}},
		{"exit 9", "exit 9", Status{Code: 9}},
		{"SIGTERM", "kill -TERM $$", Status{Code: -1, Signal: syscall.SIGTERM}},
		{"SIGKILL", "kill -KILL $$", Status{Code: -1, Signal: syscall.SIGKILL}},
		{"child outlives main", "sleep 0.2 & exit 4", Status{Code: 4}},
	}
	for _, w := range waiters {
		if !w.noPidfd && !pidfdWorks() {
			t.Logf("%s: no pollable pidfd on this kernel", w.name)
			continue
		}
		for _, tt := range tests {
			t.Run(w.name+"/"+tt.name, func(t *testing.T) {
				p, err := Start(Spec{Command: tt.cmd, noPidfd: w.noPidfd})
				if err != nil {
					t.Fatal(err)
				}
				defer closeProcess(t, p)
				if got := p.sys.exit.pidfd != nil; got == w.noPidfd {
					t.Errorf("pidfd opened = %v, want %v", got, !w.noPidfd)
				}
				pid := p.sys.cmd.Process.Pid
				if got := waitTimeout(t, p, 10*time.Second); got != tt.want {
					t.Errorf("status = %v, want %v", got, tt.want)
				}
				if st := procState(pid); st != "Z" {
					t.Errorf("main process after Done: state %q, want a zombie until Close", st)
				}
				closeProcess(t, p)
				if st := procState(pid); st != "" {
					t.Errorf("main process after Close: state %q, want reaped", st)
				}
			})
		}
	}
}

// TestWaitParksNoThread: with a pidfd, a running session's waiter is a
// goroutine parked in the runtime's poller ("IO wait"), not a thread held
// in waitid ("syscall"), which is what made the daemon cost a thread per
// session (docs/TESTING.md, "Load"). Without one it is the old blocking
// wait. Either way the waiter's descriptors are gone after Close.
func TestWaitParksNoThread(t *testing.T) {
	const n = 32
	for _, w := range waiters {
		t.Run(w.name, func(t *testing.T) {
			if !w.noPidfd && !pidfdWorks() {
				t.Skip("no pollable pidfd on this kernel")
			}
			fds := countFDs()
			threads := threadCount()
			var ps []*Process
			defer func() {
				for _, p := range ps {
					closeProcess(t, p)
				}
			}()
			for range n {
				p, err := Start(Spec{Argv: []string{"sleep", "30"}, noPidfd: w.noPidfd})
				if err != nil {
					t.Fatal(err)
				}
				ps = append(ps, p)
			}
			var states map[string]int
			if !eventually(5*time.Second, func() bool { states = waiterStates(); return states[w.state] >= n }) {
				t.Errorf("waitMain goroutines by state: %v, want %d in %q", states, n, w.state)
			}
			t.Logf("%d sessions: waiters %v; threads %d -> %d", n, states, threads, threadCount())
			for _, p := range ps {
				closeProcess(t, p)
			}
			ps = nil
			if !eventually(5*time.Second, func() bool { return countFDs() <= fds }) {
				t.Errorf("%d descriptors after Close, %d before", countFDs(), fds)
			}
		})
	}
}

// procState is pid's state letter from /proc/pid/stat, or "" once it is
// gone.
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", procRoot, pid))
	if err != nil {
		return ""
	}
	if pi, ok := parseStat(b); ok {
		return string(pi.state)
	}
	return ""
}

// waiterStates counts the goroutines in waitMain by scheduling state
// ("IO wait", "syscall", ...), from a dump of every goroutine.
func waiterStates() map[string]int {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	states := map[string]int{}
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if !strings.Contains(g, "session.(*sysProcess).waitMain") {
			continue
		}
		_, rest, _ := strings.Cut(g, "[")
		state, _, _ := strings.Cut(rest, "]")
		state, _, _ = strings.Cut(state, ",") // "IO wait, 2 minutes"
		states[state]++
	}
	return states
}

func countFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

// threadCount is this process's number of OS threads.
func threadCount() int {
	ents, _ := os.ReadDir("/proc/self/task")
	return len(ents)
}
