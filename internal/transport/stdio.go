package transport

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// StdioConn is a net.Conn over a reader and a writer, for `rexec serve
// --stdio` (like `sshd -i`): inetd, socket activation and tests hand the
// daemon one connection on stdin/stdout.
//
// Files in blocking mode cannot take read deadlines, so a deadline is
// enforced by closing both ends when it passes: that is what the server
// needs (the login grace ends the connection), and nothing else uses them.
type StdioConn struct {
	r io.ReadCloser
	w io.WriteCloser

	mu    sync.Mutex // mu guards timer
	timer *time.Timer

	closeOnce sync.Once
}

// NewStdioConn returns a connection reading r and writing w; Close closes both.
func NewStdioConn(r io.ReadCloser, w io.WriteCloser) *StdioConn {
	return &StdioConn{r: r, w: w}
}

// Read reads from the input side.
func (c *StdioConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// Write writes to the output side.
func (c *StdioConn) Write(b []byte) (int, error) { return c.w.Write(b) }

// Close closes both sides once.
func (c *StdioConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.SetDeadline(time.Time{})
		err = errors.Join(c.r.Close(), c.w.Close())
	})
	return err
}

// LocalAddr and RemoteAddr name the pipe; there is no network address.
func (c *StdioConn) LocalAddr() net.Addr { return stdioAddr{} }

// RemoteAddr returns a placeholder address ("stdio").
func (c *StdioConn) RemoteAddr() net.Addr { return stdioAddr{} }

// SetDeadline arranges for the connection to be closed at t (zero cancels).
func (c *StdioConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	if !t.IsZero() {
		c.timer = time.AfterFunc(time.Until(t), func() { _ = c.Close() })
	}
	return nil
}

// SetReadDeadline is SetDeadline: the two sides cannot be timed apart.
func (c *StdioConn) SetReadDeadline(t time.Time) error { return c.SetDeadline(t) }

// SetWriteDeadline is ignored: only the login grace uses deadlines, and it
// sets both; a write deadline alone (bounding an error frame) is best-effort.
func (c *StdioConn) SetWriteDeadline(time.Time) error { return nil }

type stdioAddr struct{}

func (stdioAddr) Network() string { return "stdio" }
func (stdioAddr) String() string  { return "stdio" }

// Stdio returns a StdioConn over the process's own stdin and stdout.
func Stdio() *StdioConn { return NewStdioConn(os.Stdin, os.Stdout) }
