//go:build linux

package rexectest

import (
	"os"
	"os/exec"
	"slices"
	"sync/atomic"
	"testing"
	"time"

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
