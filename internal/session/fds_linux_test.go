package session

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCloseInheritedOnExec: each way of marking (close_range, the
// /proc/self/fd walk, the scan up to the rlimit, and the exported
// function that picks one) sets close-on-exec on a descriptor opened
// without it, leaves 0, 1 and 2 as they were, and a session started
// afterwards does not see the descriptor.
func TestCloseInheritedOnExec(t *testing.T) {
	tests := []struct {
		name string
		mark func() error
	}{
		{"close_range", markFast},
		{"proc walk", func() error { return markListed(fdDir) }},
		{"rlimit scan", markScan},
		{"CloseInheritedOnExec", CloseInheritedOnExec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p [2]int
			if err := unix.Pipe(p[:]); err != nil { // no O_CLOEXEC: as inherited
				t.Fatal(err)
			}
			defer unix.Close(p[0])
			defer unix.Close(p[1])
			std := stdioFlags(t)
			if cloexec(t, p[0]) {
				t.Fatal("pipe(2) set close-on-exec by itself")
			}
			if err := tt.mark(); err != nil {
				t.Fatalf("mark = %v", err)
			}
			if !cloexec(t, p[0]) || !cloexec(t, p[1]) {
				t.Errorf("descriptors %v not close-on-exec after marking", p)
			}
			if got := stdioFlags(t); got != std {
				t.Errorf("stdio descriptor flags %v after marking, were %v", got, std)
			}
			r := run(t, Spec{Argv: []string{"/bin/sh", "-c", "ls /proc/$$/fd; exit 0"}}, "")
			fds := strings.Fields(r.stdout)
			for _, fd := range p {
				if slices.Contains(fds, strconv.Itoa(fd)) {
					t.Errorf("session sees descriptor %d: %q", fd, fds)
				}
			}
		})
	}
}

func cloexec(t *testing.T, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatalf("F_GETFD %d: %v", fd, err)
	}
	return flags&unix.FD_CLOEXEC != 0
}

// stdioFlags returns F_GETFD of 0, 1 and 2 (-1 when closed).
func stdioFlags(t *testing.T) [3]int {
	t.Helper()
	var f [3]int
	for fd := range f {
		v, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			v = -1
		}
		f[fd] = v
	}
	return f
}
