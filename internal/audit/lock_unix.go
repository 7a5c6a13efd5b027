//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package audit

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive, non-blocking flock on f, so two daemons
// configured with the same audit log cannot interleave their chains. The
// lock goes with the file descriptor when it is closed.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
