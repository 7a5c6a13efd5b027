package rexectest

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/session"
)

// PollInterval is how often Eventually looks again: short enough that a
// test waits little past the moment its condition holds.
const PollInterval = 10 * time.Millisecond

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// Eventually polls cond every PollInterval until it holds or d has
// passed, and reports whether it held.
func Eventually(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(PollInterval) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// StatFields returns the fields of /proc/PID/stat after the command name
// (which is in parentheses and may hold spaces): state is [0], the parent
// [1], utime [11], stime [12]. Nil when pid is gone.
func StatFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// Alive reports whether pid is a live process: not gone, not a zombie.
func Alive(pid int) bool {
	f := StatFields(pid)
	return len(f) > 0 && f[0] != "Z" && f[0] != "X" && f[0] != "x"
}

// Parent returns the parent of pid, or 0 when pid is gone.
func Parent(pid int) int {
	f := StatFields(pid)
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// Comm returns the command name of pid ("" when it is gone).
func Comm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// CPU is the CPU time (user and system, all threads) pid has used; 0
// when it is gone.
func CPU(pid int) time.Duration {
	f := StatFields(pid)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// Status reads the number of a "Name: N" or "Name: N kB" line of
// /proc/PID/status (VmRSS, VmHWM, Threads, ...); ok is false when pid is
// gone or has no such line.
func Status(pid int, name string) (n int64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if rest, found := strings.CutPrefix(line, name+":"); found {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// OpenFDs counts pid's open descriptors.
func OpenFDs(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}

// Children lists the live children of pid.
func Children(pid int) []int {
	var kids []int
	for child, parent := range parents() {
		if parent == pid && Alive(child) {
			kids = append(kids, child)
		}
	}
	return kids
}

// parents maps every process to its parent.
func parents() map[int]int {
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			parent[pid] = Parent(pid)
		}
	}
	return parent
}

// descends reports whether pid has ancestor in the parent map.
func descends(parent map[int]int, pid, ancestor int) bool {
	for range len(parent) { // bounded: a snapshot may hold a cycle
		pid = parent[pid]
		switch pid {
		case ancestor:
			return true
		case 0, 1:
			return false
		}
	}
	return false
}

// SessionProcs returns the live descendants of this process that carry a
// session marker (session.MarkerVar) other than this process's own:
// processes started by a server of these tests. MainAsDaemon makes this
// process a child subreaper, so setsid and double-forked orphans stay its
// descendants, while other test binaries' sessions (go test runs packages
// in parallel) are not counted.
func SessionProcs() []int {
	own := session.MarkerVar + "=" + os.Getenv(session.MarkerVar)
	prefix := []byte(session.MarkerVar + "=")
	self := os.Getpid()
	parent := parents()
	var pids []int
	for pid := range parent {
		if pid == self || !descends(parent, pid, self) || !Alive(pid) {
			continue
		}
		for _, kv := range bytes.Split(session.Environ(pid), []byte{0}) {
			if bytes.HasPrefix(kv, prefix) && string(kv) != own {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// WaitNoSessionProcs waits up to d for SessionProcs to be empty and
// returns what is left.
func WaitNoSessionProcs(d time.Duration) []int {
	var left []int
	Eventually(d, func() bool { left = SessionProcs(); return len(left) == 0 })
	return left
}

// WaitGone waits up to d until none of pids is alive and returns those
// still alive.
func WaitGone(d time.Duration, pids ...int) []int {
	var left []int
	Eventually(d, func() bool {
		left = left[:0]
		for _, pid := range pids {
			if Alive(pid) {
				left = append(left, pid)
			}
		}
		return len(left) == 0
	})
	return left
}

// CheckGone fails t unless every pid is gone within d; survivors are
// killed so that they do not outlive the test.
func CheckGone(t testing.TB, d time.Duration, pids ...int) {
	t.Helper()
	for _, pid := range WaitGone(d, pids...) {
		t.Errorf("process %d (%s) still alive %v after the session ended", pid, Comm(pid), d)
		kill(pid)
	}
}

// Describe names each pid with its command line, for messages.
func Describe(pids []int) []string {
	var s []string
	for _, pid := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		s = append(s, fmt.Sprintf("%d %q", pid, strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")))
	}
	return s
}

// kill sends SIGKILL to pid, if it is still there.
func kill(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
		_ = p.Release() // the pidfd FindProcess may hold
	}
}
