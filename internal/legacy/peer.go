package legacy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/rexec-dev/rexec/internal/procnet"
)

// Rules that refuse a connection or a command, as named in the log and in
// the audit record's denied_rule: the daemon's config keys, and the
// protocol sniffing.
const (
	ruleAllowUsers = "legacy_allow_users"
	ruleAllowFrom  = "legacy_allow_from"
	ruleProtocol   = "protocol"
)

// peerUIDSupported is whether this system lets the server find the uid
// that owns a loopback client's socket (Linux's /proc/net/tcp and tcp6).
// Elsewhere every loopback peer is refused (fail closed).
const peerUIDSupported = runtime.GOOS == "linux"

// ownerLookups is how many times the socket tables are read for a peer
// before it is refused as not found: the kernel prints them in pieces
// while connections come and go, and a row can be skipped by one read.
const ownerLookups = 2

var (
	// errNoSocket: no row of the socket tables is the peer's socket, or
	// none has an owner (the client has already closed it).
	errNoSocket = errors.New("the peer's socket is not in this host's socket tables")
	// errUIDUnsupported: this system cannot tell who owns a socket.
	errUIDUnsupported = errors.New("this system cannot tell which user owns a client's socket")
)

// policy decides who may use the listener (docs/SECURITY.md, "The legacy
// listener"). It does not change while Serve runs.
type policy struct {
	uids []int          // allowed owners of a client socket
	from []netip.Prefix // allowed non-loopback sources
}

// admit decides whether a peer at addr may be served, given the uid that
// owns its socket or the error of looking it up; it returns the rule that
// refuses it and why, or "" when it may. A loopback peer is served only
// when its socket is found and owned by an allowed uid. A non-loopback
// peer must come from an allowed source; its socket is normally not on
// this host (errNoSocket), but when it is (a local user connecting to one
// of the host's own addresses) the uid check applies as well. Any other
// lookup failure refuses (fail closed).
func (p policy) admit(addr netip.Addr, uid int, uidErr error) (rule, reason string) {
	addr = addr.Unmap()
	if !addr.IsLoopback() {
		if !slices.ContainsFunc(p.from, func(pf netip.Prefix) bool { return pf.Contains(addr) }) {
			return ruleAllowFrom, fmt.Sprintf("source %s is not in legacy_allow_from", addr)
		}
		if errors.Is(uidErr, errNoSocket) || errors.Is(uidErr, errUIDUnsupported) {
			return "", ""
		}
	}
	if uidErr != nil {
		return ruleAllowUsers, "the owner of the peer's socket is unknown: " + uidErr.Error()
	}
	if !slices.Contains(p.uids, uid) {
		return ruleAllowUsers, fmt.Sprintf("peer uid %d is not in legacy_allow_users", uid)
	}
	return "", ""
}

// tcpAddrPort returns a's address and port, unmapped; ok is false when a
// is not a TCP address.
func tcpAddrPort(a net.Addr) (netip.AddrPort, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, false
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// socketOwner returns the uid owning the client socket of a connection
// whose far end is peer and near end local, from the socket tables under
// root (normally /proc): the row whose local address is peer and whose
// remote address is local. An empty root means /proc.
func socketOwner(root string, peer, local netip.AddrPort) (int, error) {
	if !peerUIDSupported {
		return -1, errUIDUnsupported
	}
	if root == "" {
		root = "/proc"
	}
	var uid int
	var err error
	for range ownerLookups {
		if uid, err = readOwner(root, peer, local); !errors.Is(err, errNoSocket) {
			break
		}
	}
	return uid, err
}

// readOwner reads root/net/tcp and root/net/tcp6 once (a missing tcp6
// means no IPv6) for the owner of peer's socket. An IPv4 peer's socket
// is in tcp, or in tcp6 when it is an IPv6 socket talking IPv4; an IPv6
// peer's only in tcp6. Each table costs the kernel a walk of its whole
// hash table, so only the ones that can hold the row are read.
func readOwner(root string, peer, local netip.AddrPort) (int, error) {
	tables := []string{"tcp", "tcp6"}
	if peer.Addr().Is6() {
		tables = tables[1:]
	}
	for _, name := range tables {
		f, err := os.Open(filepath.Join(root, "net", name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return -1, fmt.Errorf("reading the socket table: %w", err)
		}
		uid, err := findOwner(f, peer, local)
		f.Close()
		if !errors.Is(err, errNoSocket) {
			return uid, err
		}
	}
	return -1, errNoSocket
}

// findOwner scans one socket table for the rows whose local address is
// peer and whose remote address is local (IPv4-mapped addresses compared
// as IPv4) and that a process still holds, and returns their owner. Rows
// of one connection that disagree on the owner are an error, never a
// guess.
func findOwner(r io.Reader, peer, local netip.AddrPort) (int, error) {
	uid := -1
	var conflict bool
	err := procnet.Scan(r, func(s procnet.Socket) bool {
		if !s.Owned() || unmapped(s.Local) != peer || unmapped(s.Remote) != local {
			return true
		}
		if uid >= 0 && uid != int(s.UID) {
			conflict = true
			return false
		}
		uid = int(s.UID)
		return true
	})
	switch {
	case err != nil:
		return -1, fmt.Errorf("reading the socket table: %w", err)
	case conflict:
		return -1, fmt.Errorf("the socket of %s has rows with different owners", peer)
	case uid < 0:
		return -1, errNoSocket
	}
	return uid, nil
}

func unmapped(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
