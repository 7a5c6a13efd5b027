//go:build unix

package transfer

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

func isNoSpace(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT)
}

// lockFile takes an exclusive, non-blocking flock on f: a partial file is
// written by one transfer at a time. The lock goes with the descriptor.
func lockFile(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB) }); err != nil {
		return err
	}
	if errors.Is(lerr, unix.EWOULDBLOCK) {
		return ErrInUse
	}
	return lerr
}

// syncDirFile fsyncs an open directory, making renames in it durable.
func syncDirFile(d *os.File) error { return d.Sync() }
