// Package bench holds in-process benchmarks of rexec's transport; the
// side-by-side comparison with OpenSSH is compare.sh (docs/BENCHMARKS.md).
//
//	go test -run '^$' -bench . -benchtime 3s ./bench/
//
// They isolate what compare.sh cannot: the cost of TLS + framing alone,
// without process start-up, the remote command or the local pipe.
package bench

import (
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/protocol/frame"
	"github.com/rexec-dev/rexec/internal/transport"
)

type pair struct {
	host, user *auth.Identity
	ln         net.Listener
	serverTLS  *tls.Config
}

func newPair(b *testing.B) *pair {
	b.Helper()
	host, err := auth.GenerateIdentity("host")
	if err != nil {
		b.Fatal(err)
	}
	user, err := auth.GenerateIdentity("user")
	if err != nil {
		b.Fatal(err)
	}
	scfg, err := transport.ServerConfig(host)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	return &pair{host: host, user: user, ln: ln, serverTLS: scfg}
}

// dial connects and completes the TLS handshake the way the rexec client
// does: a fresh self-signed certificate and a pinned host key.
func (p *pair) dial() (*tls.Conn, error) {
	ccfg, err := transport.ClientConfig(p.user, func(k ed25519.PublicKey) error {
		if !k.Equal(p.host.Public) {
			return errors.New("host key mismatch")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	nc, err := net.Dial("tcp", p.ln.Addr().String())
	if err != nil {
		return nil, err
	}
	tc := tls.Client(nc, ccfg)
	if err := tc.Handshake(); err != nil {
		nc.Close()
		return nil, err
	}
	return tc, nil
}

// BenchmarkHandshake is one connection: TCP connect, client certificate,
// TLS 1.3 with both ed25519 keys checked. Both ends run in this process.
func BenchmarkHandshake(b *testing.B) {
	p := newPair(b)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := p.ln.Accept()
			if err != nil {
				return
			}
			tc := tls.Server(nc, p.serverTLS)
			_ = tc.Handshake()
			tc.Close()
		}
	}()
	b.ResetTimer()
	for b.Loop() {
		tc, err := p.dial()
		if err != nil {
			b.Fatal(err)
		}
		tc.Close()
	}
	b.StopTimer()
	p.ln.Close()
	<-done
}

// BenchmarkStream sends stdout data frames of the given size from a
// "server" goroutine to a "client" that decodes them, over TLS on loopback
// TCP: the streaming path of `rexec run` without the pipes on either end.
func BenchmarkStream(b *testing.B) {
	for _, size := range []int{16 << 10, 256 << 10, frame.MaxBodySize} {
		b.Run(sizeName(size), func(b *testing.B) { benchStream(b, size) })
	}
}

func benchStream(b *testing.B, size int) {
	p := newPair(b)
	errc := make(chan error, 1)
	n := b.N
	go func() {
		nc, err := p.ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		tc := tls.Server(nc, p.serverTLS)
		pc := protocol.NewConn(tc)
		defer pc.Close()
		body := make([]byte, size)
		for i := 0; i < n; i++ {
			if err := pc.Send(protocol.Data{Stream: protocol.TypeStdout, Body: body}); err != nil {
				errc <- err
				return
			}
		}
		errc <- pc.Send(protocol.Exit{})
	}()
	tc, err := p.dial()
	if err != nil {
		b.Fatal(err)
	}
	pc := protocol.NewConn(tc)
	defer pc.Close()
	b.SetBytes(int64(size))
	b.ResetTimer()
	for {
		m, err := pc.Recv()
		if err != nil {
			b.Fatal(err)
		}
		if d, ok := m.(protocol.Data); ok {
			_, _ = io.Discard.Write(d.Body)
			continue
		}
		if _, ok := m.(protocol.Exit); ok {
			break
		}
		b.Fatalf("unexpected %s", m.Type())
	}
	b.StopTimer()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + "MiB"
	case n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
