package transfer

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncBatch makes the staged files of a batch durable together: one
// syncfs of the destination's file system instead of an fsync per file,
// which on a journalling file system is a journal commit each.
func syncBatch(root *os.Root, _ []staged) error { return syncFS(root) }

// syncDirsTogether makes the directory changes in dirs durable: one
// fsync for one directory, one syncfs for several.
func syncDirsTogether(r *Receiver, dirs []string) error {
	switch len(dirs) {
	case 0:
		return nil
	case 1:
		return r.syncDir(dirs[0])
	}
	return syncFS(r.root)
}

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
