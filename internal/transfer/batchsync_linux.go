package transfer

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncGroup makes a group's temporary files and directory changes
// durable together: one syncfs of the destination's file system instead
// of an fsync per file and per directory, which on a journalling file
// system is a journal commit each.
func syncGroup(root *os.Root, _ []*os.File, _ []string) error { return syncFS(root) }

func syncFS(root *os.Root) error {
	d, err := root.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	rc, err := d.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Syncfs(int(fd)) }); err != nil {
		return err
	}
	if serr != nil {
		return &os.SyscallError{Syscall: "syncfs", Err: serr}
	}
	return nil
}
