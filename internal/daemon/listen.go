package daemon

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"

	"github.com/rexec-dev/rexec/internal/auth"
)

// listenAll binds every address (DefaultListen when there is none), or
// none: a daemon half-listening would confuse whoever reads its log.
func listenAll(addrs []string) ([]net.Listener, error) {
	if len(addrs) == 0 {
		addrs = []string{DefaultListen}
	}
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			closeAll(lns)
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func closeAll(lns []net.Listener) {
	for _, l := range lns {
		l.Close()
	}
}

// listenPorts are the TCP ports of lns, for the SYN-flood watch.
func listenPorts(lns []net.Listener) []uint16 {
	var ports []uint16
	for _, ln := range lns {
		if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil {
			ports = append(ports, ap.Port())
		}
	}
	return ports
}

// announce tells a first-time user where the daemon serves and how to
// connect to the first listener.
func announce(w io.Writer, lns []net.Listener, id *auth.Identity) {
	for _, ln := range lns {
		fmt.Fprintf(w, "rexec: serving on %s, host key %s\n", ln.Addr(), auth.Fingerprint(id.Public))
	}
	fmt.Fprintf(w, "rexec: try: rexec run %s -- uname -a\n", hint(lns[0].Addr()))
}

// hint is the host a local client names to reach a listener on addr:
// localhost for 127.0.0.1 and for the unspecified addresses, which
// include it (pinOwnHostKey pins the key for localhost), else the
// address itself, which is pinned too; with the port unless it is
// DefaultPort.
func hint(addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return "localhost"
	}
	ap := ta.AddrPort()
	ip := ap.Addr().Unmap()
	host := ip.String()
	if !ip.IsValid() || ip.IsUnspecified() || ip == netip.AddrFrom4([4]byte{127, 0, 0, 1}) {
		host = "localhost"
	}
	if ap.Port() == DefaultPort {
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(int(ap.Port())))
}
