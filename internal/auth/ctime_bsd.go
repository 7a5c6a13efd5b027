//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package auth

import "syscall"

// ctimeNanos is the inode change time: a chmod or chown moves it.
func ctimeNanos(st *syscall.Stat_t) int64 { return st.Ctimespec.Nano() }
