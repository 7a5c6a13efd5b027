//go:build unix && !linux

package server

import (
	"os"
	"syscall"
)

// selfExe names the running binary for the exec of a file helper: its
// path, which the account must be able to reach.
var selfExe, _ = os.Executable()

// setParentDeath does nothing where there is no parent-death signal: the
// helper ends when its link closes.
func setParentDeath(*syscall.SysProcAttr) {}
