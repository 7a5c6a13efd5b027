//go:build linux

package rexectest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/session"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestProcReaders reads this process and a child it starts, then kills:
// what each reader says of a live process, of a reaped one and of one
// that never was.
func TestProcReaders(t *testing.T) {
	self := os.Getpid()
	if rss, ok := Status(self, "VmRSS"); !ok || rss <= 0 {
		t.Errorf("Status(self, VmRSS) = %d, %v; want > 0", rss, ok)
	}
	if n, ok := Status(self, "Threads"); !ok || n < 1 {
		t.Errorf("Status(self, Threads) = %d, %v; want >= 1", n, ok)
	}
	if _, ok := Status(self, "NoSuchField"); ok {
		t.Error("Status(self, NoSuchField) found a value")
	}
	if OpenFDs(self) < 3 {
		t.Errorf("OpenFDs(self) = %d, want at least stdin, stdout and stderr", OpenFDs(self))
	}
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if !Alive(pid) || Parent(pid) != self || Comm(pid) != "sleep" || !slices.Contains(Children(self), pid) {
		t.Errorf("child %d: Alive %v, Parent %d, Comm %q, Children(self) %v; want alive, %d, sleep, listed",
			pid, Alive(pid), Parent(pid), Comm(pid), Children(self), self)
	}
	if left := WaitGone(50*time.Millisecond, pid); !slices.Equal(left, []int{pid}) {
		t.Errorf("WaitGone(live child) = %v, want [%d]", left, pid)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if left := WaitGone(5*time.Second, pid); len(left) != 0 || Alive(pid) || StatFields(pid) != nil {
		t.Errorf("reaped child %d: WaitGone %v, Alive %v, StatFields %v; want gone", pid, left, Alive(pid), StatFields(pid))
	}
	if Parent(-1) != 0 || Comm(-1) != "" || CPU(-1) != 0 {
		t.Errorf("pid -1: Parent %d, Comm %q, CPU %v; want 0, \"\", 0", Parent(-1), Comm(-1), CPU(-1))
	}
}

// TestDescends: ancestry through a parent map, bounded on a cycle.
func TestDescends(t *testing.T) {
	parent := map[int]int{10: 5, 5: 2, 2: 1, 7: 8, 8: 7}
	tests := []struct {
		pid, ancestor int
		want          bool
	}{
		{10, 5, true},
		{10, 2, true},
		{10, 7, false},
		{5, 10, false},
		{7, 3, false}, // a cycle: bounded, not found
	}
	for _, tt := range tests {
		if got := descends(parent, tt.pid, tt.ancestor); got != tt.want {
			t.Errorf("descends(%d, %d) = %v, want %v", tt.pid, tt.ancestor, got, tt.want)
		}
	}
}

// TestEventuallyAndParallel: Eventually reports a condition that comes
// to hold and one that never does; Parallel calls f once per index.
func TestEventuallyAndParallel(t *testing.T) {
	var n atomic.Int32
	if !Eventually(5*time.Second, func() bool { return n.Add(1) >= 3 }) {
		t.Error("Eventually missed a condition that held at the third look")
	}
	if Eventually(30*time.Millisecond, func() bool { return false }) {
		t.Error("Eventually reported a condition that never held")
	}
	seen := make([]atomic.Int32, 100)
	Parallel(len(seen), 7, func(i int) { seen[i].Add(1) })
	for i := range seen {
		if got := seen[i].Load(); got != 1 {
			t.Errorf("Parallel called f(%d) %d times, want once", i, got)
		}
	}
}

// TestSessionProcsThroughExec: a session process that execs again and
// again (as a shell's just-forked child execs its command) is listed by
// every scan that finds it alive before and after; an environment read
// in the middle of its execve (empty for a moment) must not drop it.
func TestSessionProcsThroughExec(t *testing.T) {
	script := filepath.Join(t.TempDir(), "chain")
	// each run execs itself with one less, 400 execs in all, then exits
	body := "#!/bin/sh\n[ \"$1\" -gt 0 ] && exec \"$0\" $(($1 - 1))\nexit 0\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script, "400")
	cmd.Env = append(os.Environ(), session.MarkerVar+"=exec-chain")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	pid := cmd.Process.Pid
	scans, missed := 0, 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); scans++ {
		before := running(pid)
		got := SessionProcs()
		if !before || !running(pid) {
			break
		}
		if !slices.Contains(got, pid) {
			missed++
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("exec chain: %v", err)
	}
	if scans == 0 || missed > 0 {
		t.Errorf("%d of %d scans missed the live session process %d, want none of at least one", missed, scans, pid)
	}
}

// running reports whether pid is alive and not on its way out: a process
// inside exit(2) (PF_EXITING, 0x4 among the flags of stat) may have lost
// its memory, environment included, before it is a zombie.
func running(pid int) bool {
	f := StatFields(pid)
	if !Alive(pid) || len(f) < 7 {
		return false
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	return err == nil && flags&0x4 == 0
}
