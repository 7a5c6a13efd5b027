// Package utmp records login sessions in the utmp and wtmp files, so that
// who(1), w(1) and last(1) show rexec's terminal sessions as they show
// sshd's. Records use glibc's struct utmp layout (384 bytes on Linux);
// writing is best effort: a session never fails for want of a record.
//
// utmp imports nothing internal.
package utmp

import (
	"net/netip"
	"strings"
	"time"
)

// Files of the system, as glibc names them.
const (
	UtmpFile = "/var/run/utmp"
	WtmpFile = "/var/log/wtmp"
)

// Entry is one terminal session.
type Entry struct {
	Line string     // the terminal, without "/dev/": "pts/3"
	User string     // the account
	Host string     // the client's address, as who shows it
	Addr netip.Addr // the client's address, binary
	PID  int        // the session's process
	Time time.Time
}

// Files are where records go; the zero value means the system's.
type Files struct {
	Utmp, Wtmp string
}

func (f Files) utmp() string {
	if f.Utmp == "" {
		return UtmpFile
	}
	return f.Utmp
}

func (f Files) wtmp() string {
	if f.Wtmp == "" {
		return WtmpFile
	}
	return f.Wtmp
}

// Line is the utmp line of a terminal device path: "/dev/pts/3" gives
// "pts/3".
func Line(dev string) string { return strings.TrimPrefix(dev, "/dev/") }
