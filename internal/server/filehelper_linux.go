package server

import "syscall"

// selfExe names the running binary for the exec of a file helper.
const selfExe = "/proc/self/exe"

// setParentDeath kills the helper if the daemon dies, so no helper
// outlives the connection it served.
func setParentDeath(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
