package rexectest

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// maxRepoDepth bounds RepoRoot's walk up from a test's directory.
const maxRepoDepth = 20

// SkipOrFail skips t on a developer machine that lacks something a test
// needs (a tool, a peer, a namespace), but fails it under CI (CI set),
// where everything must be there.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// RepoRoot walks up from the test's directory to the one holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for range maxRepoDepth {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		dir = filepath.Dir(dir)
	}
	t.Fatal("go.mod not found above the test directory")
	return ""
}

// SeedDir returns testdata/lesson at the repository's root, which holds
// the lesson's Python programs (its README says what they are), after
// checking that python3 is there to run them (SkipOrFail).
func SeedDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(RepoRoot(t), "testdata", "lesson")
	if _, err := os.Stat(filepath.Join(dir, "server.py")); err != nil {
		SkipOrFail(t, "lesson programs missing: %v", err)
	}
	if _, err := exec.LookPath("python3"); err != nil {
		SkipOrFail(t, "python3 missing: %v", err)
	}
	return dir
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// SyncBuffer is a bytes.Buffer that a writer (a logger, a process's
// output) and the test reading it may use at once.
type SyncBuffer struct {
	mu sync.Mutex // mu guards b
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// WriteString appends str.
func (s *SyncBuffer) WriteString(str string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.WriteString(str)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Parallel runs f(i) for every i in [0, n) on workers goroutines, and
// returns once every call has.
func Parallel(n, workers int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// FullEnv selects the full-size runs of the fault-injection and tree
// tests, those of `make reliability` (docs/TESTING.md).
const FullEnv = "REXEC_RELIABILITY_FULL"

// Scale picks a test's size: short under -short, full when FullEnv is 1,
// def otherwise (make test, CI).
func Scale(short, def, full int) int {
	switch {
	case os.Getenv(FullEnv) == "1":
		return full
	case testing.Short():
		return short
	}
	return def
}
