//go:build unix

package auth

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkPrivateKeyFile refuses, like ssh(1)'s "UNPROTECTED PRIVATE KEY
// FILE", a key file that group or others may read or write, or that is
// owned by a user other than the effective one.
func checkPrivateKeyFile(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: UNPROTECTED PRIVATE KEY FILE: permissions %04o for %q are too open; "+
			"a private key must not be accessible by others (chmod 600 %s)", ErrKeyPermissions, perm, path, path)
	}
	return checkOwner(path, fi)
}

// checkOwner refuses a file owned by a uid other than the effective uid.
func checkOwner(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if euid := os.Geteuid(); int(st.Uid) != euid {
		return fmt.Errorf("%w: %q is owned by uid %d, not by the current user (uid %d)", ErrKeyPermissions, path, st.Uid, euid)
	}
	return nil
}

// fileInode returns fi's inode number (0 if unknown), to notice a file
// replaced by rename.
func fileInode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
