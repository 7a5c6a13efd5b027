//go:build unix

package server

import (
	"os"
	"syscall"
)

// inodeOf is fi's inode number, so that a file replaced by rename is seen
// as changed even with the same size and time.
func inodeOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
