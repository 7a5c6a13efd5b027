//go:build linux

package server

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
// setsid and double-forked descendants of sessions reparent to this process
// and are reaped. After the tests it checks that no session process is left
// (the process-level goleak) and, once the reaper has stopped, that no
// goroutine is.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(daemonM{m})
}

// daemonM wraps testing.M so the subreaper is enabled around m.Run and
// stopped before goleak looks for goroutines.
type daemonM struct{ m *testing.M }

func (d daemonM) Run() int {
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
		if code == 0 {
			code = 1
		}
	}
	return code
}
