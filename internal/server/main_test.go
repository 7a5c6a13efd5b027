//go:build linux

package server

import (
	"testing"

	"github.com/rexec-dev/rexec/internal/rexectest"
)

// TestMain runs the tests as the daemon runs (rexectest.MainAsDaemon): a
// child subreaper, so that setsid and double-forked descendants of
// sessions reparent to this process and are reaped; after the tests no
// session process and no goroutine may be left.
func TestMain(m *testing.M) { rexectest.MainAsDaemon(m, false) }
