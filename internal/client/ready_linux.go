//go:build linux

package client

import (
	"io"
	"syscall"

	"golang.org/x/sys/unix"
)

// readReady appends to buf[n:] what in (a pipe or socket) holds right now,
// without waiting: the kernel says how many bytes are ready (FIONREAD, which Linux names TIOCINQ),
// and only those are read, so the read cannot block whatever mode the
// descriptor is in. A program that writes its output in small pieces
// (rsync writes 32 KiB at a time) then costs one stdin frame per batch,
// not per piece, on both ends. An input that is not a pipe or socket, or
// has nothing ready, is left alone.
func readReady(in io.Reader, buf []byte, n int) (int, error) {
	sc, ok := in.(syscall.Conn)
	if !ok {
		return n, nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return n, nil
	}
	for n < len(buf) {
		var m int
		var rerr error
		err := raw.Control(func(fd uintptr) {
			ready, ierr := unix.IoctlGetInt(int(fd), unix.TIOCINQ)
			if ierr != nil || ready <= 0 {
				return
			}
			m, rerr = syscall.Read(int(fd), buf[n:n+min(ready, len(buf)-n)])
		})
		if err != nil || m <= 0 {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
		n += m
	}
	return n, nil
}
