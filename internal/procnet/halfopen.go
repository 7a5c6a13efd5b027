package procnet

import (
	"fmt"
	"io"
	"net/netip"
	"os"
)

// HalfOpen is a count of half-open connections: rows in state SynRecv, the
// request sockets of listeners still waiting for the client's ACK. One
// HalfOpen can add up several tables (tcp and tcp6), so that a source seen
// in both counts once.
type HalfOpen struct {
	// Count is the number of half-open rows counted.
	Count int
	// Sources holds their distinct remote addresses, an IPv4-mapped
	// address as its IPv4 address: a flood's spread over sources is
	// what tells many clients from one. Nil until a row is counted.
	Sources map[netip.Addr]struct{}
}

// CountHalfOpen adds to c the SynRecv rows of r, a /proc/net/tcp or tcp6
// file, whose local port is in ports (every port when ports is empty).
// Errors are Scan's; c then holds the rows before the bad line.
func CountHalfOpen(r io.Reader, ports map[uint16]bool, c *HalfOpen) error {
	return Scan(r, func(s Socket) bool {
		if s.State != SynRecv || len(ports) > 0 && !ports[s.Local.Port()] {
			return true
		}
		c.Count++
		if c.Sources == nil {
			c.Sources = map[netip.Addr]struct{}{}
		}
		c.Sources[s.Remote.Addr().Unmap()] = struct{}{}
		return true
	})
}

// CountHalfOpenFile is CountHalfOpen of the file at path. A file that does
// not exist is an error wrapping fs.ErrNotExist (tcp6 without IPv6).
func CountHalfOpenFile(path string, ports map[uint16]bool, c *HalfOpen) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("procnet: %w", err)
	}
	defer f.Close()
	if err := CountHalfOpen(f, ports, c); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
