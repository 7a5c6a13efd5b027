// Package sdnotify tells systemd about the daemon's state over the
// sd_notify protocol (sd_notify(3)): one datagram of "KEY=VALUE" lines to
// the unix socket named by $NOTIFY_SOCKET. Without that variable, as
// outside a Type=notify unit, every call is a no-op. A name starting with
// '@' is a Linux abstract socket.
//
// The daemon sends Ready once it listens, Reloading and then Ready around
// a SIGHUP reload, and Stopping when it starts to drain (see
// contrib/rexec.service). sdnotify imports nothing internal.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// States the daemon sends (sd_notify(3)).
const (
	Ready     = "READY=1"
	Reloading = "RELOADING=1"
	Stopping  = "STOPPING=1"
)

// SocketEnv is the variable systemd sets to the notification socket.
const SocketEnv = "NOTIFY_SOCKET"

// ErrBadSocket: $NOTIFY_SOCKET is neither an absolute path nor an abstract
// name ("@...").
var ErrBadSocket = errors.New("sdnotify: NOTIFY_SOCKET is not an absolute path or @name")

// Notify sends state (one or more "KEY=VALUE" lines) to $NOTIFY_SOCKET as
// one datagram. It returns nil without doing anything when the variable is
// unset or empty. It does not block on a full socket buffer beyond what
// the kernel does for a datagram; it is safe for concurrent use.
func Notify(state string) error {
	return NotifySocket(os.Getenv(SocketEnv), state)
}

// Status sends a free-form status line, shown by `systemctl status`.
func Status(msg string) error {
	return Notify("STATUS=" + strings.ReplaceAll(msg, "\n", " "))
}

// NotifySocket sends state to the socket at addr ("" does nothing); for
// tests and for callers that unset the variable.
func NotifySocket(addr, state string) error {
	if addr == "" {
		return nil
	}
	if !strings.HasPrefix(addr, "/") && !strings.HasPrefix(addr, "@") {
		return fmt.Errorf("%w: %q", ErrBadSocket, addr)
	}
	// Go maps a leading '@' to the abstract namespace (a NUL first byte).
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}
