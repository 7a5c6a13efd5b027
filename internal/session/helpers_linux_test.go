package session

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// result is everything a finished session produced.
type result struct {
	stdout, stderr string
	status         Status
}

// run starts spec, feeds input and closes stdin, reads both outputs to EOF
// and closes the process.
func run(t *testing.T, spec Spec, input string) result {
	t.Helper()
	p, err := Start(spec)
	if err != nil {
		t.Fatalf("Start(%+v) = %v", spec, err)
	}
	defer closeProcess(t, p)
	var out, errOut bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _, _ = io.Copy(&out, p.Stdout()) }()
	go func() { defer wg.Done(); _, _ = io.Copy(&errOut, p.Stderr()) }()
	if input != "" {
		if _, err := io.WriteString(p.Stdin(), input); err != nil {
			t.Errorf("writing stdin: %v", err)
		}
	}
	if err := p.Stdin().Close(); err != nil {
		t.Errorf("closing stdin: %v", err)
	}
	st := waitTimeout(t, p, 10*time.Second)
	wg.Wait()
	return result{out.String(), errOut.String(), st}
}

func closeProcess(t *testing.T, p *Process) {
	t.Helper()
	if err := p.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
}

func waitTimeout(t *testing.T, p *Process, d time.Duration) Status {
	t.Helper()
	select {
	case <-p.Done():
		return p.Wait()
	case <-time.After(d):
		t.Fatalf("process did not exit within %v", d)
		return Status{}
	}
}

// uniqueSleep returns a sleep duration no other test or run uses, so
// /proc can be searched for it.
func uniqueSleep(base int) string {
	return fmt.Sprintf("%d.%06d", base, rand.IntN(1_000_000))
}

// sleepers returns the live processes whose argv is "sleep <dur>".
func sleepers(dur string) []int {
	want := []byte("sleep\x00" + dur + "\x00")
	var pids []int
	for _, pi := range listProcs() {
		if pi.dead() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procRoot, fmt.Sprint(pi.pid), "cmdline"))
		if err == nil && bytes.Equal(b, want) {
			pids = append(pids, pi.pid)
		}
	}
	return pids
}

// eventually polls cond every 10ms until it holds or d passes.
func eventually(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// canCgroup reports whether this test process may create cgroups.
func canCgroup() bool {
	cg, err := newCgroup("probe-"+newID(), false, "")
	if err != nil {
		return false
	}
	_ = cg.remove()
	return true
}
