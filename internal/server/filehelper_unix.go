//go:build unix

package server

import (
	"fmt"
	"os"
	"syscall"
)

// socketPair is the helper link: a connected pair of stream sockets, the
// daemon's end and the helper's (its stdin and stdout).
func socketPair() (ours, theirs *os.File, err error) {
	syscall.ForkLock.RLock() // no exec between the socketpair and close-on-exec
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, fmt.Errorf("file helper link: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "helper-link"), os.NewFile(uintptr(fds[1]), "helper-link"), nil
}
