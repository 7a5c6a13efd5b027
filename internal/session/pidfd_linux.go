package session

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// exitWatch is how waitMain learns that the main process exited: a pidfd
// registered with the Go runtime's poller, so that a waiting session
// parks a goroutine instead of holding an OS thread in waitid(2). A
// thread costs the daemon about 17 KiB of resident memory, which with
// a thousand sessions running was the largest item of their cost
// (docs/TESTING.md, "Load").
type exitWatch struct {
	// pidfd refers to the main process; nil when the kernel offers no
	// pollable pidfd (before Linux 5.10, or refused by a seccomp filter),
	// and then waitMain blocks a thread as before. waitMain owns and
	// closes it.
	pidfd *os.File
}

// watchExit opens a non-blocking pidfd for the main process pid. It must
// run before anything could reap pid (Start's fork holds forkMu, so the
// reaper cannot), so the pidfd can only refer to our child.
func watchExit(pid int) exitWatch {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return exitWatch{} // ENOSYS, EPERM, EINVAL (no PIDFD_NONBLOCK): wait the old way
	}
	return exitWatch{pidfd: os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", pid))}
}

// errNoPoll means the pidfd could not be waited on through the poller; the
// caller falls back to a blocking waitid.
var errNoPoll = errors.New("session: pidfd not pollable")

// waitExit waits, without reaping, until the main process has exited and
// returns waitid's siginfo for it. It parks in the runtime's poller until
// the pidfd is readable (the process exited), then asks waitid(P_PIDFD,
// WNOHANG|WNOWAIT). It returns errNoPoll, having consumed nothing, when
// the pidfd cannot be polled or waitid does not take P_PIDFD. It closes
// the pidfd.
func (w exitWatch) waitExit() (unix.Siginfo, error) {
	var info unix.Siginfo
	if w.pidfd == nil {
		return info, errNoPoll
	}
	defer w.pidfd.Close()
	rc, err := w.pidfd.SyscallConn()
	if err != nil {
		return info, errNoPoll
	}
	var werr error
	rerr := rc.Read(func(fd uintptr) bool {
		var exited bool
		exited, werr = exitedNow(int(fd), &info)
		return exited || werr != nil
	})
	switch {
	case rerr != nil: // not registered with the poller ("unsupported file type")
		return info, errNoPoll
	case errors.Is(werr, unix.EINVAL), errors.Is(werr, unix.ENOSYS), errors.Is(werr, unix.EPERM):
		return info, errNoPoll // waitid without P_PIDFD (Linux < 5.4)
	}
	return info, werr
}

// exitedNow asks waitid, without blocking and without reaping, whether the
// process of pidfd fd has exited, and fills info if so. A process still
// running leaves si_signo at zero.
func exitedNow(fd int, info *unix.Siginfo) (bool, error) {
	for {
		*info = unix.Siginfo{}
		err := unix.Waitid(unix.P_PIDFD, fd, info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN): // a non-blocking pidfd, process running
			return false, nil
		case err != nil:
			return false, err
		}
		return info.Signo != 0, nil
	}
}
