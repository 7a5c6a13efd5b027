//go:build linux

package reliability

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rexec-dev/rexec/internal/session"
)

// TestMain runs the tests as the daemon runs: a child subreaper, so that
// every descendant of a session stays this process's descendant and can be
// found and reaped. TMPDIR points at a fresh directory that must be empty
// after the tests (no temporary file left by client, server or session);
// then no session process and, once the reaper has stopped, no goroutine
// may be left.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(daemonM{m})
}

type daemonM struct{ m *testing.M }

func (d daemonM) Run() int {
	tmp, err := os.MkdirTemp("", "rexec-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	os.Setenv("TMPDIR", tmp)
	stop, err := session.EnableSubreaper(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "EnableSubreaper:", err)
		return 1
	}
	defer stop()
	code := d.m.Run()
	if left := waitNoSessionProcs(10 * time.Second); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "session processes left after the tests: %v\n", left)
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		code = max(code, 1)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
		fmt.Fprintf(os.Stderr, "files left in TMPDIR %s after the tests:", tmp)
		for _, e := range ents {
			fmt.Fprintf(os.Stderr, " %s", e.Name())
		}
		fmt.Fprintln(os.Stderr)
		code = max(code, 1)
	}
	return code
}
