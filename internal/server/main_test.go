//go:build linux

package server

import (
	"os"
	"testing"

	"github.com/rexec-dev/rexec/internal/rexectest"
)

// TestMain runs the tests as the daemon runs (rexectest.MainAsDaemon): a
// child subreaper, so that setsid and double-forked descendants of
// sessions reparent to this process and are reaped; after the tests no
// session process and no goroutine may be left.
//
// Started as the sftp subsystem's process (SFTPServerArg), the test
// binary is that process, as the rexec binary is.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == SFTPServerArg {
		if err := ServeSFTP(os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	rexectest.MainAsDaemon(m, false)
}
