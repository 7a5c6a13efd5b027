package metrics

import (
	"net"
	"sync"
)

// limitListener accepts at most limit connections open at once and closes
// each one past that as soon as it is accepted. Unlike
// golang.org/x/net/netutil's LimitListener, which stops accepting at the
// limit and leaves the rest in the kernel's backlog, it keeps the backlog
// empty: behind a flood of idle connections a scraper is refused at once
// and retries, rather than waiting as long as the flood lasts.
type limitListener struct {
	*net.TCPListener
	limit int

	mu   sync.Mutex
	open int // mu guards: connections returned by Accept and not closed yet
}

func newLimitListener(ln *net.TCPListener, limit int) *limitListener {
	return &limitListener{TCPListener: ln, limit: limit}
}

// Accept returns the next connection under the limit, closing those past
// it; its errors are the TCP listener's, which net/http's Serve retries
// when they are temporary (EMFILE).
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptTCP()
		if err != nil {
			return nil, err
		}
		if l.acquire() {
			return &limitConn{TCPConn: c, l: l}, nil
		}
		c.Close()
	}
}

func (l *limitListener) acquire() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.limit {
		return false
	}
	l.open++
	return true
}

func (l *limitListener) release() {
	l.mu.Lock()
	l.open--
	l.mu.Unlock()
}

// count returns the connections open now.
func (l *limitListener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// limitConn gives its slot back at its first Close. It embeds the
// *net.TCPConn, not a net.Conn, so that net/http still finds CloseWrite
// (it half-closes before closing a connection it answered with an error,
// so that the answer is not lost to a reset).
type limitConn struct {
	*net.TCPConn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.TCPConn.Close()
	c.once.Do(c.l.release)
	return err
}
