//go:build !linux

package flood

import "syscall"

// bindNoPort is Linux-only (IP_BIND_ADDRESS_NO_PORT); elsewhere the port
// is chosen at bind time.
func bindNoPort(_, _ string, _ syscall.RawConn) error { return nil }
