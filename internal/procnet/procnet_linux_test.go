package procnet

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestLiveLoopbackRows connects over loopback (IPv4 and IPv6) and finds
// both ends in the kernel's tables: the client's row has the client's
// address as local and the server's as remote, this process's uid, and
// the inode of the client's descriptor.
func TestLiveLoopbackRows(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			host := "127.0.0.1"
			if network == "tcp6" {
				host = "::1"
			}
			ln, err := net.Listen(network, net.JoinHostPort(host, "0"))
			if err != nil {
				t.Skipf("no %s loopback: %v", network, err)
			}
			defer ln.Close()
			client, err := net.Dial(network, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			server, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer server.Close()
			cl := netip.MustParseAddrPort(client.LocalAddr().String())
			sv := netip.MustParseAddrPort(server.LocalAddr().String())
			var found []Socket
			for _, path := range Files {
				err := ScanFile(path, func(s Socket) bool {
					if s.Local == cl && s.Remote == sv {
						found = append(found, s)
					}
					return true
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if len(found) != 1 {
				t.Fatalf("rows for the client %v -> %v: %v, want one", cl, sv, found)
			}
			s := found[0]
			if s.State != Established || !s.Owned() || int(s.UID) != os.Getuid() {
				t.Errorf("client row %v: want ESTABLISHED, owned, uid %d", s, os.Getuid())
			}
			if want := socketInode(t, client); s.Inode != want {
				t.Errorf("client row inode %d, want the descriptor's %d", s.Inode, want)
			}
		})
	}
}

// socketInode reads the inode of c's descriptor from /proc/self/fd.
func socketInode(t *testing.T, c net.Conn) uint64 {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var link string
	raw.Control(func(fd uintptr) {
		link, err = os.Readlink("/proc/self/fd/" + strconv.Itoa(int(fd)))
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
	if err != nil {
		t.Fatalf("fd link %q: %v", link, err)
	}
	return n
}
