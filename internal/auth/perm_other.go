//go:build !unix

package auth

import "io/fs"

// checkPrivateKeyFile is a no-op where Unix permission bits do not exist
// (Windows uses ACLs, which rexec does not inspect yet).
func checkPrivateKeyFile(string, fs.FileInfo) error { return nil }

// fileInode is 0 where there are no inodes: size and mtime must do.
func fileInode(fs.FileInfo) uint64 { return 0 }
