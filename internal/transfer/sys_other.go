//go:build !unix

package transfer

import (
	"errors"
	"os"
	"syscall"
)

// errDiskFull is Windows' ERROR_DISK_FULL.
const errDiskFull = syscall.Errno(112)

func isNoSpace(err error) bool { return errors.Is(err, errDiskFull) }

// lockFile is a no-op where flock does not exist: Windows already refuses
// to rename a file another handle writes without FILE_SHARE_DELETE.
func lockFile(*os.File) error { return nil }

// syncDirFile is a no-op where directories cannot be fsynced (Windows
// makes a rename durable with the file's own flush).
func syncDirFile(*os.File) error { return nil }
