package rexectest

import (
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transport"
)

// fakeConnTimeout bounds each connection a FakeServer plays, so that a
// script waiting for a client that gave up cannot hold the test.
const fakeConnTimeout = 30 * time.Second

// FakeServer is a rexec server played by hand, for the peers rexec's own
// server never is (hostile, silent, broken): a real loopback socket, TLS
// 1.3 with the fake servers' host key, the client's hello read and
// answered, and then a script plays each connection, one after the other.
type FakeServer struct {
	Addr string         // host:port on 127.0.0.1
	Port string         // the port of Addr
	Host *auth.Identity // its host key (fakeHostKey), for a client to pin

	ln   net.Listener
	tls  *tls.Config
	done chan struct{} // closed at cleanup: a script blocked in Recv ends
	wg   sync.WaitGroup
}

// fakeHostKey is the one host key of every FakeServer of a test process.
// A test that starts several, one after another, with one client home
// pins each as 127.0.0.1:PORT in the same known_hosts; when a later one
// gets a port an earlier one had, a key of its own would be refused as
// changed (TestCpHostileDownloadNames failed so under -race).
var fakeHostKey = sync.OnceValues(func() (*auth.Identity, error) { return auth.GenerateIdentity("fake-server") })

// StartFakeServer listens on 127.0.0.1 and plays script on every
// connection after the hello exchange, in which it answers with hello
// (Version is set for it). At t's cleanup the listener and the
// connection being played are closed, and the goroutines waited for.
func StartFakeServer(t testing.TB, hello protocol.Hello, script func(*protocol.Conn)) *FakeServer {
	t.Helper()
	host, err := fakeHostKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := transport.ServerConfig(host)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &FakeServer{Addr: ln.Addr().String(), Host: host, ln: ln, tls: cfg, done: make(chan struct{})}
	_, s.Port, _ = net.SplitHostPort(s.Addr)
	hello.Version = protocol.Version
	s.wg.Go(func() { s.accept(hello, script) })
	t.Cleanup(func() { close(s.done); ln.Close(); s.wg.Wait() })
	return s
}

// accept plays every connection until the listener is closed.
func (s *FakeServer) accept(hello protocol.Hello, script func(*protocol.Conn)) {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.play(nc, hello, script)
	}
}

// play answers one connection's hello and runs script on it.
func (s *FakeServer) play(nc net.Conn, hello protocol.Hello, script func(*protocol.Conn)) {
	tc := tls.Server(nc, s.tls)
	_ = tc.SetDeadline(time.Now().Add(fakeConnTimeout))
	pc := protocol.NewConn(tc)
	defer pc.Close()
	played := make(chan struct{})
	defer close(played)
	s.wg.Go(func() { // at cleanup, a script blocked in Recv ends
		select {
		case <-s.done:
			pc.Close()
		case <-played:
		}
	})
	if m, err := pc.Recv(); err != nil || m.Type() != protocol.TypeHello {
		return
	}
	if pc.Send(hello) != nil {
		return
	}
	script(pc)
}
