package metrics

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// stateSynRecv is the st column of a half-open connection in /proc/net/tcp
// (TCP_SYN_RECV in include/net/tcp_states.h; request sockets show it too).
const stateSynRecv = 0x03

// maxProcLine bounds one line of /proc/net/tcp or netstat; real lines are
// about 150 bytes (tcp6) and 3 KiB (the TcpExt names).
const maxProcLine = 64 << 10

// ErrProcFormat is wrapped, with the line number, by the /proc parsers'
// errors.
var ErrProcFormat = errors.New("metrics: unexpected /proc format")

// TcpExt counters the SYN watch follows in /proc/net/netstat.
const (
	SyncookiesSent       = "SyncookiesSent"
	ListenOverflows      = "ListenOverflows"
	ListenDrops          = "ListenDrops"
	TCPReqQFullDoCookies = "TCPReqQFullDoCookies"
)

// watchedCounters are the TcpExt counters whose rise the watch reports.
var watchedCounters = []string{SyncookiesSent, ListenOverflows, ListenDrops, TCPReqQFullDoCookies}

// tcpEntry is one decoded socket line of /proc/net/tcp or tcp6.
type tcpEntry struct {
	local, remote netip.AddrPort
	state         uint8
}

// ParseProcNetTCP reads /proc/net/tcp or /proc/net/tcp6 and counts the
// half-open (SYN_RECV) connections whose local port is in ports (every
// port when ports is empty), with the set of their distinct source
// addresses as strings (IPv4-mapped IPv6 addresses as plain IPv4, no
// port). Addresses are decoded as the kernel prints them: each 32-bit word
// in host byte order. Any malformed line is an error wrapping
// ErrProcFormat; the file's header line is skipped.
func ParseProcNetTCP(r io.Reader, ports map[uint16]bool) (halfOpen int, sources map[string]struct{}, err error) {
	sources = map[string]struct{}{}
	err = scanTCP(r, func(e tcpEntry) {
		if e.state != stateSynRecv || len(ports) > 0 && !ports[e.local.Port()] {
			return
		}
		halfOpen++
		sources[e.remote.Addr().String()] = struct{}{}
	})
	return halfOpen, sources, err
}

// scanTCP calls fn for every socket line of r.
func scanTCP(r io.Reader, fn func(tcpEntry)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxProcLine)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 && strings.HasPrefix(strings.TrimSpace(line), "sl ") {
			continue
		}
		e, err := parseTCPLine(line)
		if err != nil {
			return fmt.Errorf("%w: line %d: %v", ErrProcFormat, n, err)
		}
		fn(e)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrProcFormat, err)
	}
	return nil
}

// parseTCPLine decodes "  N: LOCAL REMOTE ST ...".
func parseTCPLine(line string) (tcpEntry, error) {
	var f [4]string
	if n := firstFields(line, f[:]); n < 4 || !strings.HasSuffix(f[0], ":") {
		return tcpEntry{}, errors.New("want `N: local remote st ...`")
	}
	local, err := parseHexAddrPort(f[1])
	if err != nil {
		return tcpEntry{}, fmt.Errorf("local address: %v", err)
	}
	remote, err := parseHexAddrPort(f[2])
	if err != nil {
		return tcpEntry{}, fmt.Errorf("remote address: %v", err)
	}
	if len(f[3]) != 2 {
		return tcpEntry{}, fmt.Errorf("state %q: want 2 hex digits", f[3])
	}
	st, err := strconv.ParseUint(f[3], 16, 8)
	if err != nil {
		return tcpEntry{}, fmt.Errorf("state %q: want 2 hex digits", f[3])
	}
	return tcpEntry{local: local, remote: remote, state: uint8(st)}, nil
}

// firstFields fills f with the first len(f) space-separated fields of
// line, without allocating, and returns how many it found.
func firstFields(line string, f []string) int {
	n := 0
	for n < len(f) {
		line = strings.TrimLeft(line, " \t")
		if line == "" {
			break
		}
		end := strings.IndexAny(line, " \t")
		if end < 0 {
			end = len(line)
		}
		f[n], line = line[:end], line[end:]
		n++
	}
	return n
}

// parseHexAddrPort decodes "0100007F:1B6E" (IPv4) or 32 hex digits and a
// port (IPv6): the address as 32-bit words in host byte order, the port in
// network order, as the kernel's %08X and %04X print them. An IPv4-mapped
// IPv6 address becomes its IPv4 address.
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok || len(p) != 4 || len(a) != 8 && len(a) != 32 {
		return netip.AddrPort{}, fmt.Errorf("%q: want 8 or 32 hex digits, ':', 4 hex digits", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: bad port", s)
	}
	var b [16]byte
	for i := 0; i < len(a); i += 8 {
		word, err := strconv.ParseUint(a[i:i+8], 16, 32)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("%q: bad address", s)
		}
		binary.NativeEndian.PutUint32(b[i/2:], uint32(word))
	}
	var addr netip.Addr
	if len(a) == 8 {
		addr = netip.AddrFrom4([4]byte(b[:4]))
	} else {
		addr = netip.AddrFrom16(b).Unmap()
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// ParseNetstat reads /proc/net/netstat (or /proc/net/snmp): pairs of lines
// "Prefix: name name ..." and "Prefix: value value ...". It returns the
// TcpExt counters by name, SyncookiesSent, ListenOverflows, ListenDrops and
// TCPReqQFullDoCookies among them. A malformed pair, or no TcpExt pair at
// all, is an error wrapping ErrProcFormat.
func ParseNetstat(r io.Reader) (map[string]int64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxProcLine)
	var out map[string]int64
	for n := 1; sc.Scan(); n += 2 {
		names := strings.Fields(sc.Text())
		if !sc.Scan() {
			return nil, fmt.Errorf("%w: line %d: header without a value line", ErrProcFormat, n)
		}
		values := strings.Fields(sc.Text())
		if len(names) == 0 || len(values) != len(names) || names[0] != values[0] || !strings.HasSuffix(names[0], ":") {
			return nil, fmt.Errorf("%w: lines %d-%d: names and values do not pair up", ErrProcFormat, n, n+1)
		}
		if names[0] != "TcpExt:" {
			continue
		}
		if out == nil {
			out = make(map[string]int64, len(names)-1)
		}
		for i := 1; i < len(names); i++ {
			v, err := strconv.ParseUint(values[i], 10, 64)
			if err != nil || v > math.MaxInt64 {
				return nil, fmt.Errorf("%w: line %d: %s: bad value %q", ErrProcFormat, n+1, names[i], values[i])
			}
			out[names[i]] = int64(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProcFormat, err)
	}
	if out == nil {
		return nil, fmt.Errorf("%w: no TcpExt lines", ErrProcFormat)
	}
	return out, nil
}
