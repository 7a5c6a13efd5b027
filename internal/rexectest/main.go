package rexectest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rexec-dev/rexec/internal/session"
)

// Packages of the module's binaries, for Build.
const (
	RexecPkg = "github.com/rexec-dev/rexec/cmd/rexec"
	FloodPkg = "github.com/rexec-dev/rexec/cmd/rexec-flood"
)

// sessionsGone bounds the wait, after a package's tests, for the last
// session processes to be reaped before they count as leaked.
const sessionsGone = 10 * time.Second

// Build builds the command package pkg (RexecPkg, FloodPkg) into dir and
// returns the binary's path; a failure carries the compiler's output.
func Build(dir, pkg string) (string, error) {
	bin := filepath.Join(dir, filepath.Base(pkg))
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// MainWithBinary is the TestMain of tests that run the real rexec binary,
// as a user would: it builds cmd/rexec once into a temporary directory,
// sets *bin to its path, runs the tests, removes the directory (and
// whatever else the tests built there) and, when the tests passed, fails
// the run if a goroutine is left (goleak). It does not return.
func MainWithBinary(m *testing.M, bin *string) {
	dir, err := os.MkdirTemp("", "rexec-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin, err = Build(dir, RexecPkg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// MainAsDaemon is the TestMain of packages whose tests run sessions in
// this process (an in-process server): it runs them as the daemon runs,
// a child subreaper, so that setsid and double-forked descendants of
// sessions stay this process's descendants and are reaped. After the
// tests it fails the run if a session process is left (SessionProcs; the
// leftovers are killed) and, once the reaper has stopped, if a goroutine
// is. With emptyTempDir, TMPDIR points at a fresh directory that must be
// empty after the tests: no temporary file left by client, server or
// session. It does not return.
func MainAsDaemon(m *testing.M, emptyTempDir bool) {
	goleak.VerifyTestMain(daemonM{m: m, emptyTempDir: emptyTempDir})
}

// daemonM wraps testing.M so that the subreaper runs around m.Run and is
// stopped before goleak looks for goroutines.
type daemonM struct {
	m            *testing.M
	emptyTempDir bool
}

func (d daemonM) Run() int {
	var tmp string
	if d.emptyTempDir {
		var err error
		if tmp, err = os.MkdirTemp("", "rexec-tests-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(tmp)
		os.Setenv("TMPDIR", tmp)
	}
	stop, err := session.EnableSubreaper(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "EnableSubreaper:", err)
		return 1
	}
	defer stop()
	code := d.m.Run()
	if !noSessionsLeft() {
		code = max(code, 1)
	}
	if tmp != "" && !emptyDir(tmp) {
		code = max(code, 1)
	}
	return code
}

// noSessionsLeft reports, and kills, the session processes still alive
// sessionsGone after the tests.
func noSessionsLeft() bool {
	left := WaitNoSessionProcs(sessionsGone)
	if len(left) == 0 {
		return true
	}
	fmt.Fprintf(os.Stderr, "session processes left after the tests: %v\n", Describe(left))
	for _, pid := range left {
		kill(pid)
	}
	return false
}

// emptyDir reports, and names on stderr, the files left in dir.
func emptyDir(dir string) bool {
	ents, _ := os.ReadDir(dir)
	if len(ents) == 0 {
		return true
	}
	fmt.Fprintf(os.Stderr, "files left in TMPDIR %s after the tests:", dir)
	for _, e := range ents {
		fmt.Fprintf(os.Stderr, " %s", e.Name())
	}
	fmt.Fprintln(os.Stderr)
	return false
}
