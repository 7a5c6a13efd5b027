//go:build !windows

package server

import (
	"os"
	"syscall"
)

// inode returns the file's inode number, to notice a file replaced by rename.
func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
