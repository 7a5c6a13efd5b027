package client

import (
	"crypto/tls"
	"io"
	"net"
	"time"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// newTestConn returns a Conn that is past TLS and hello, over a stream the
// test plays the server on: in is what the client reads, out what it
// writes. Closing the Conn closes both.
func newTestConn(in *io.PipeReader, out *io.PipeWriter) *Conn {
	nc := &pipeConn{in: in, out: out}
	c := &Conn{target: Target{Host: "test-server", Port: DefaultPort}, nc: nc}
	c.pc = helloConn{Conn: protocol.NewConn(nc), c: c}
	c.helloOnce.Do(func() {}) // past hello
	return c
}

// pipeConn is a net.Conn made of two io.Pipe ends: unlike net.Pipe, the
// server can end its direction (EOF) while still reading the client's.
type pipeConn struct {
	in  *io.PipeReader
	out *io.PipeWriter
}

func (p *pipeConn) Read(b []byte) (int, error)  { return p.in.Read(b) }
func (p *pipeConn) Write(b []byte) (int, error) { return p.out.Write(b) }

func (p *pipeConn) Close() error {
	p.in.Close()
	return p.out.Close()
}

func (p *pipeConn) LocalAddr() net.Addr              { return pipeAddr{} }
func (p *pipeConn) RemoteAddr() net.Addr             { return pipeAddr{} }
func (p *pipeConn) SetDeadline(time.Time) error      { return nil }
func (p *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (p *pipeConn) SetWriteDeadline(time.Time) error { return nil }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// KeyExchange is the key exchange group c's handshake used.
func (c *Conn) KeyExchange() tls.CurveID { return c.curve }
