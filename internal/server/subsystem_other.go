//go:build !unix

package server

import "os"

// selfExe names the running binary for a subsystem's process.
var selfExe, _ = os.Executable()
