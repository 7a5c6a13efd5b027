package legacy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyAdmit(t *testing.T) {
	p := policy{uids: []int{1000, 1001}, from: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/32")}}
	other := errors.New("reading the socket table: permission denied")
	tests := []struct {
		name   string
		addr   string
		uid    int
		uidErr error
		want   string // rule, "" for admitted
	}{
		{"loopback, allowed uid", "127.0.0.1", 1000, nil, ""},
		{"loopback, second allowed uid", "127.0.0.1", 1001, nil, ""},
		{"other loopback address", "127.3.4.5", 1000, nil, ""},
		{"ipv6 loopback", "::1", 1000, nil, ""},
		{"ipv4-mapped loopback", "::ffff:127.0.0.1", 1000, nil, ""},
		{"loopback, other uid", "127.0.0.1", 65534, nil, ruleAllowUsers},
		{"loopback, root not listed", "127.0.0.1", 0, nil, ruleAllowUsers},
		{"loopback, socket not found", "127.0.0.1", -1, errNoSocket, ruleAllowUsers},
		{"loopback, system cannot tell", "::1", -1, errUIDUnsupported, ruleAllowUsers},
		{"loopback, table unreadable", "127.0.0.1", -1, other, ruleAllowUsers},
		{"listed source", "192.0.2.9", -1, errNoSocket, ""},
		{"listed ipv6 source", "2001:db8::7", -1, errNoSocket, ""},
		{"listed source, system cannot tell", "192.0.2.9", -1, errUIDUnsupported, ""},
		{"listed mapped source", "::ffff:192.0.2.9", -1, errNoSocket, ""},
		{"unlisted source", "198.51.100.1", -1, errNoSocket, ruleAllowFrom},
		{"unlisted source owned by an allowed uid", "198.51.100.1", 1000, nil, ruleAllowFrom},
		{"listed source on this host, allowed uid", "192.0.2.9", 1000, nil, ""},
		{"listed source on this host, other uid", "192.0.2.9", 65534, nil, ruleAllowUsers},
		{"listed source, table unreadable", "192.0.2.9", -1, other, ruleAllowUsers},
	}
	for _, tt := range tests {
		rule, reason := p.admit(netip.MustParseAddr(tt.addr), tt.uid, tt.uidErr)
		if rule != tt.want || (rule == "") != (reason == "") {
			t.Errorf("%s: admit(%s, %d, %v) = %q, %q; want rule %q", tt.name, tt.addr, tt.uid, tt.uidErr, rule, reason, tt.want)
		}
	}
	if rule, _ := (policy{}).admit(netip.MustParseAddr("127.0.0.1"), 0, nil); rule != ruleAllowUsers {
		t.Errorf("an empty policy admitted uid 0 on loopback")
	}
	if rule, _ := (policy{}).admit(netip.MustParseAddr("0.0.0.0"), 0, nil); rule != ruleAllowFrom {
		t.Errorf("an empty policy admitted 0.0.0.0")
	}
}

// tableRow prints one /proc/net/tcp row as a little-endian kernel does.
func tableRow(local, remote, state, uid, inode string) string {
	hex := func(s string) string {
		ap := netip.MustParseAddrPort(s)
		b := ap.Addr().AsSlice()
		var out strings.Builder
		for i := 0; i < len(b); i += 4 {
			fmt.Fprintf(&out, "%08X", binary.LittleEndian.Uint32(b[i:]))
		}
		fmt.Fprintf(&out, ":%04X", ap.Port())
		return out.String()
	}
	return "   1: " + hex(local) + " " + hex(remote) + " " + state + " 00000000:00000000 00:00000000 00000000 " +
		uid + " 0 " + inode + " 1 0000000000000000 20 4 30 10 -1\n"
}

func TestFindOwner(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the rows are printed as a little-endian kernel prints them")
	}
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	peer, local := netip.MustParseAddrPort("127.0.0.1:50000"), netip.MustParseAddrPort("127.0.0.1:8081")
	peer6, local6 := netip.MustParseAddrPort("[::1]:50000"), netip.MustParseAddrPort("[::1]:8081")
	server := tableRow("127.0.0.1:8081", "127.0.0.1:50000", "01", "0", "11")
	tests := []struct {
		name        string
		table       string
		peer, local netip.AddrPort
		want        int
		wantErr     error
	}{
		{"client row", server + tableRow("127.0.0.1:50000", "127.0.0.1:8081", "01", "1000", "12"), peer, local, 1000, nil},
		{"half-closed client", tableRow("127.0.0.1:50000", "127.0.0.1:8081", "05", "1000", "12"), peer, local, 1000, nil},
		{"only the server's own row", server, peer, local, -1, errNoSocket},
		{"time-wait row of uid 0 ignored", tableRow("127.0.0.1:50000", "127.0.0.1:8081", "06", "0", "0"), peer, local, -1, errNoSocket},
		{"orphaned row ignored", tableRow("127.0.0.1:50000", "127.0.0.1:8081", "04", "0", "0"), peer, local, -1, errNoSocket},
		{"other port", tableRow("127.0.0.1:50001", "127.0.0.1:8081", "01", "1000", "12"), peer, local, -1, errNoSocket},
		{"other server address", tableRow("127.0.0.1:50000", "127.0.0.2:8081", "01", "1000", "12"), peer, local, -1, errNoSocket},
		{"ipv6 client", tableRow("[::1]:50000", "[::1]:8081", "01", "65534", "13"), peer6, local6, 65534, nil},
		{"ipv4 client in tcp6, mapped", tableRow("[::ffff:127.0.0.1]:50000", "[::ffff:127.0.0.1]:8081", "01", "1000", "14"), peer, local, 1000, nil},
		{"owners disagree", tableRow("127.0.0.1:50000", "127.0.0.1:8081", "01", "1000", "12") +
			tableRow("127.0.0.1:50000", "127.0.0.1:8081", "01", "0", "15"), peer, local, -1, nil},
		{"malformed table", "   1: zz\n", peer, local, -1, nil},
	}
	for _, tt := range tests {
		uid, err := findOwner(strings.NewReader(header+tt.table), tt.peer, tt.local)
		switch {
		case tt.want >= 0 && (err != nil || uid != tt.want):
			t.Errorf("%s: findOwner = %d, %v; want %d", tt.name, uid, err, tt.want)
		case tt.want < 0 && tt.wantErr != nil && !errors.Is(err, tt.wantErr):
			t.Errorf("%s: findOwner = %d, %v; want %v", tt.name, uid, err, tt.wantErr)
		case tt.want < 0 && tt.wantErr == nil && (err == nil || errors.Is(err, errNoSocket)):
			t.Errorf("%s: findOwner = %d, %v; want an error other than not found", tt.name, uid, err)
		}
	}
}

// TestSocketOwnerLive finds the owner of a real loopback client, over
// IPv4 and IPv6, in this host's tables: this process's uid.
func TestSocketOwnerLive(t *testing.T) {
	if !peerUIDSupported {
		uid, err := socketOwner("", netip.AddrPort{}, netip.AddrPort{})
		if !errors.Is(err, errUIDUnsupported) {
			t.Fatalf("socketOwner on %s = %d, %v; want errUIDUnsupported", "this system", uid, err)
		}
		return
	}
	for _, host := range []string{"127.0.0.1", "::1"} {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Logf("no loopback on %s: %v", host, err)
			continue
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			ln.Close()
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		peer, _ := tcpAddrPort(s.RemoteAddr())
		local, _ := tcpAddrPort(s.LocalAddr())
		uid, err := socketOwner("", peer, local)
		if err != nil || uid != os.Getuid() {
			t.Errorf("%s: socketOwner = %d, %v; want %d", host, uid, err, os.Getuid())
		}
		s.Close()
		c.Close()
		ln.Close()
	}
}

// TestSocketOwnerTablesMissing: with no tables at all, nothing is found.
func TestSocketOwnerTablesMissing(t *testing.T) {
	if !peerUIDSupported {
		t.Skip("the tables are read on Linux only")
	}
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "net"), 0o755)
	uid, err := socketOwner(root, netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2"))
	if !errors.Is(err, errNoSocket) {
		t.Errorf("socketOwner with empty tables = %d, %v; want errNoSocket", uid, err)
	}
}

func TestCheckAllowFrom(t *testing.T) {
	some := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	tests := []struct {
		addr string
		from []netip.Prefix
		want error
	}{
		{"127.0.0.1:8081", nil, nil},
		{"[::1]:8081", nil, nil},
		{"localhost:8081", nil, nil},
		{"0.0.0.0:8081", nil, ErrNoAllowFrom},
		{":8081", nil, ErrNoAllowFrom},
		{"[::]:8081", nil, ErrNoAllowFrom},
		{"192.0.2.1:8081", nil, ErrNoAllowFrom},
		{"0.0.0.0:8081", some, nil},
		{"nonsense", some, ErrBadAddr},
	}
	for _, tt := range tests {
		if err := CheckAllowFrom(tt.addr, tt.from); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("CheckAllowFrom(%q, %v) = %v, want %v", tt.addr, tt.from, err, tt.want)
		}
	}
}
