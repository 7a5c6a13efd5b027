//go:build linux || darwin

package session

import (
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// firstInherited is the lowest descriptor CloseInheritedOnExec marks:
// 0, 1 and 2 are the daemon's own stdio, which os/exec never passes to a
// session (it replaces them with the session's pipes or terminal).
const firstInherited = 3

// maxFDScan caps the last-resort scan of descriptor numbers: Linux never
// hands out a descriptor above fs.nr_open, whose default is 1<<20, and
// macOS's per-process limit is far below it; an unlimited RLIMIT_NOFILE
// must not turn the scan into billions of system calls.
const maxFDScan = 1 << 20

// CloseInheritedOnExec marks every descriptor from 3 up close-on-exec, so
// that nothing the daemon inherited from whoever started it (a shell's
// `exec 7</etc/passwd`, a supervisor's leaked socket) reaches a session:
// os/exec hands a child exactly its stdio plus every descriptor without
// close-on-exec, and the Go runtime opens its own with close-on-exec
// already, so the inherited ones are the only leak. The daemon calls it at
// start, before it starts anything; the descriptors stay open in the
// daemon. It returns an error only when no method could mark them all.
func CloseInheritedOnExec() error {
	if markFast() == nil {
		return nil
	}
	if err := markListed(fdDir); err == nil {
		return nil
	}
	return markScan()
}

// markListed marks every descriptor the directory dir (/proc/self/fd,
// /dev/fd) lists; the one it holds open while listing is marked too,
// which is harmless, and closed again.
func markListed(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < firstInherited {
			continue
		}
		if err := setCloexec(fd); err != nil && !errors.Is(err, unix.EBADF) {
			return err
		}
	}
	return nil
}

// markScan tries every descriptor number below RLIMIT_NOFILE (at most
// maxFDScan): for when neither close_range nor a descriptor directory is
// there (no /proc mounted).
func markScan() error {
	var rl unix.Rlimit
	limit := uint64(maxFDScan)
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil && rl.Cur < limit {
		limit = rl.Cur
	}
	for fd := firstInherited; uint64(fd) < limit; fd++ {
		if err := setCloexec(fd); err != nil && !errors.Is(err, unix.EBADF) {
			return err
		}
	}
	return nil
}

// setCloexec sets FD_CLOEXEC on fd, keeping its other descriptor flags.
func setCloexec(fd int) error {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC != 0 {
		return err
	}
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC)
	return err
}
