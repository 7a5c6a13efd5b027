// Package procnet reads Linux's network tables under /proc/net, the one
// parser of them in rexec: the TCP socket tables /proc/net/tcp and
// /proc/net/tcp6 (one Socket per row, with its local and remote
// addresses, state, owning uid and inode), and the counters of
// /proc/net/netstat (ParseNetstat).
//
// The daemon uses the socket tables to learn which local account owns the
// other end of a loopback connection (the legacy listener's peer uid
// check, docs/SECURITY.md, "The legacy listener"): on loopback both ends
// of a connection are rows of the same table, and the client's row
// carries the uid of whoever created its socket. The SYN-flood watch
// counts the half-open rows on the listen ports (CountHalfOpen) and follows
// the TcpExt counters of netstat; the metrics read the IpExt byte
// counters there.
//
// Addresses are decoded as the kernel prints them: each 32-bit word of
// the address in host byte order, the port in network order. An IPv4
// client of a dual-stack IPv6 socket appears in tcp6 as an IPv4-mapped
// address (::ffff:a.b.c.d); Socket keeps it so, and callers that compare
// with an IPv4 address use netip.Addr.Unmap.
//
// procnet imports nothing internal. It parses bytes on any platform; the
// files exist only on Linux.
package procnet

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// State is a row's st column, the kernel's TCP state
// (include/net/tcp_states.h).
type State uint8

// The states a row can show.
const (
	Established State = 0x01
	SynSent     State = 0x02
	SynRecv     State = 0x03 // also the request sockets of a listener
	FinWait1    State = 0x04
	FinWait2    State = 0x05
	TimeWait    State = 0x06 // no owner: uid and inode are 0
	Close       State = 0x07
	CloseWait   State = 0x08
	LastAck     State = 0x09
	Listen      State = 0x0A
	Closing     State = 0x0B
	NewSynRecv  State = 0x0C
)

// Files are the tables under /proc, IPv4 then IPv6.
var Files = []string{"/proc/net/tcp", "/proc/net/tcp6"}

// MaxLine bounds one line. Real rows of tcp6 are about 150 bytes, and the
// longest netstat line (TcpExt's names) about 3 KiB; a longer line means
// the file is not what this package expects.
const MaxLine = 64 << 10

// ErrFormat is wrapped, with the line number, by every parse error.
var ErrFormat = errors.New("procnet: unexpected /proc/net format")

// Socket is one row of /proc/net/tcp or tcp6.
type Socket struct {
	Local, Remote netip.AddrPort
	State         State
	// UID owns the socket: the effective uid of the process that created
	// it (sock_i_uid). Rows without an owner (TimeWait, request sockets)
	// show 0, so look at Inode before trusting a 0.
	UID uint32
	// Inode is the socket's inode, as in /proc/PID/fd's "socket:[N]";
	// 0 when no process holds the socket any more.
	Inode uint64
}

// Owned reports whether a process still holds the socket, so that UID
// names a live owner rather than the 0 of a TIME_WAIT or request row.
func (s Socket) Owned() bool { return s.Inode != 0 && s.State != TimeWait && s.State != NewSynRecv }

// Columns of a row: "sl local remote st tx:rx tr:when retrnsmt uid timeout inode ...".
const (
	colSlot = iota
	colLocal
	colRemote
	colState
	colQueues
	colTimer
	colRetransmits
	colUID
	colTimeout
	colInode
	nCols
)

// Scan calls fn for every row of r, a /proc/net/tcp or tcp6 file, until
// fn returns false. The header line is skipped; any malformed line stops
// the scan with an error wrapping ErrFormat.
func Scan(r io.Reader, fn func(Socket) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLine)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 && strings.HasPrefix(strings.TrimSpace(line), "sl ") {
			continue
		}
		s, err := ParseLine(line)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if !fn(s) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return nil
}

// ScanFile is Scan of the file at path.
func ScanFile(path string, fn func(Socket) bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := Scan(f, fn); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ParseLine decodes one row, "  N: LOCAL REMOTE ST TX:RX TR:WHEN RETR UID
// TIMEOUT INODE ...". Errors wrap ErrFormat.
func ParseLine(line string) (Socket, error) {
	var f [nCols]string
	if n := fields(line, f[:]); n < nCols || !strings.HasSuffix(f[colSlot], ":") {
		return Socket{}, fmt.Errorf("%w: want `N: local remote st queues timer retransmits uid timeout inode`", ErrFormat)
	}
	local, err := ParseAddrPort(f[colLocal])
	if err != nil {
		return Socket{}, fmt.Errorf("local address: %w", err)
	}
	remote, err := ParseAddrPort(f[colRemote])
	if err != nil {
		return Socket{}, fmt.Errorf("remote address: %w", err)
	}
	st, err := strconv.ParseUint(f[colState], 16, 8)
	if err != nil || len(f[colState]) != 2 {
		return Socket{}, fmt.Errorf("%w: state %q: want 2 hex digits", ErrFormat, f[colState])
	}
	uid, err := parseDecimal(f[colUID], 32)
	if err != nil {
		return Socket{}, fmt.Errorf("%w: uid %q: want a decimal number", ErrFormat, f[colUID])
	}
	inode, err := parseDecimal(f[colInode], 64)
	if err != nil {
		return Socket{}, fmt.Errorf("%w: inode %q: want a decimal number", ErrFormat, f[colInode])
	}
	return Socket{Local: local, Remote: remote, State: State(st), UID: uint32(uid), Inode: inode}, nil
}

// parseDecimal accepts only digits (no sign, no spaces) that fit bits.
func parseDecimal(s string, bits int) (uint64, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseUint(s, 10, bits)
}

// fields fills f with the first len(f) space-separated fields of line,
// without allocating, and returns how many it found.
func fields(line string, f []string) int {
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

// ParseAddrPort decodes "0100007F:1B6E" (IPv4: 8 hex digits) or 32 hex
// digits and a port (IPv6), as the kernel's %08X and %04X print them: the
// address as 32-bit words in host byte order, the port in network order.
// An IPv4-mapped IPv6 address stays an IPv6 address (::ffff:a.b.c.d).
// Errors wrap ErrFormat.
func ParseAddrPort(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok || len(p) != 4 || len(a) != 8 && len(a) != 32 {
		return netip.AddrPort{}, fmt.Errorf("%w: %q: want 8 or 32 hex digits, ':', 4 hex digits", ErrFormat, s)
	}
	port, err := parseHex(p, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: %q: bad port", ErrFormat, s)
	}
	var b [16]byte
	for i := 0; i < len(a); i += 8 {
		word, err := parseHex(a[i:i+8], 32)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("%w: %q: bad address", ErrFormat, s)
		}
		binary.NativeEndian.PutUint32(b[i/2:], uint32(word))
	}
	addr := netip.AddrFrom16(b)
	if len(a) == 8 {
		addr = netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// parseHex accepts only hex digits (ParseUint alone would take "+1" or
// "0x1" with base 0, and an underscore never) that fit bits.
func parseHex(s string, bits int) (uint64, error) {
	if s == "" || strings.Trim(s, "0123456789abcdefABCDEF") != "" {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseUint(s, 16, bits)
}
