//go:build linux

package reliability

import (
	"testing"

	"github.com/rexec-dev/rexec/internal/rexectest"
)

// TestMain runs the tests as the daemon runs (rexectest.MainAsDaemon): a
// child subreaper, so that every descendant of a session stays this
// process's descendant and can be found and reaped. TMPDIR points at a
// fresh directory that must be empty after the tests (no temporary file
// left by client, server or session); then no session process and, once
// the reaper has stopped, no goroutine may be left.
func TestMain(m *testing.M) { rexectest.MainAsDaemon(m, true) }
