package flood

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindNoPort sets IP_BIND_ADDRESS_NO_PORT before a dial binds its source
// address, so the port is chosen at connect time per destination, not at
// bind time from the ports no socket on that address holds: tens of
// thousands of connections from one source, and sockets of earlier runs
// in TIME_WAIT, then do not exhaust the ephemeral range.
func bindNoPort(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
