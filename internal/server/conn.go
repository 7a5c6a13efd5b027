package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/metrics"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// serverConn is one client connection. Its serve goroutine is the only
// reader; sessions started from it send through the same protocol.Conn.
type serverConn struct {
	s      *Server
	nc     net.Conn
	remote string
	log    *slog.Logger

	adm *admission     // pre-auth gate place; nil for ServeConn
	ip  net.IP         // the peer's address, for from= (nil off TCP)
	pc  *protocol.Conn // set once authenticated
	key *auth.AuthorizedKey
	// acct is the account the connection's requests run as.
	acct *sessionAccount
	// authKey and account are key and acct for other goroutines (the
	// authorized_keys watcher): set once, when the connection is
	// authenticated, account first.
	authKey atomic.Pointer[auth.AuthorizedKey]
	account atomic.Pointer[sessionAccount]

	lastRequest atomic.Int64 // unix nanos of the last request or busy moment, for the idle timeout
	lastFrame   atomic.Int64 // unix nanos of the last frame read, for the keepalive

	mu sync.Mutex // mu guards req, active, unacked, exiting and closed
	// req is the request that holds the connection (claim): none, an
	// exec session or a file request.
	req    requestKind
	active *execSession
	// unacked is the resumable session whose exit went out on this
	// connection and awaits the client's acknowledgement (resume.go).
	unacked *execSession
	// xaudit is the audit of the file request being served; only the
	// reader goroutine, which serves it, touches it.
	xaudit *sessionAudit
	// helper serves the file requests of an account other than the
	// daemon's (filehelper.go); only the reader goroutine touches it.
	helper *fileHelper
	// link marks the helper's own side: pc is its link to the daemon,
	// and a file stream's reads are asked of the daemon (xferWire).
	link bool
	// exiting counts sessions that have left active but are still
	// sending their exit: the connection is not idle until it is out.
	exiting int
	closed  bool
	// follow is the attach in progress (jobRequest), or nil.
	follow *follower
}

// newConn registers nc, or returns nil while the server is closing.
func (s *Server) newConn(nc net.Conn) *serverConn {
	c := &serverConn{s: s, nc: nc, remote: nc.RemoteAddr().String()}
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		c.ip = ta.IP
	}
	c.log = s.log.With("remote", c.remote)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.startWatchingLocked()
	return c
}

func (c *serverConn) serve() {
	defer c.s.wg.Done()
	defer c.unregister()
	defer c.nc.Close()
	m := c.s.cfg.Metrics
	m.ConnOpened(metrics.StatePreauth)
	err := c.authenticate()
	c.leaveGate(err)
	if err != nil {
		m.ConnClosed(metrics.StatePreauth)
		c.s.preauthLog("connection refused before authentication", "remote", c.remote, "err", err)
		c.lingerClose()
		return
	}
	m.ConnState(metrics.StatePreauth, metrics.StateAuthenticated)
	defer m.ConnClosed(metrics.StateAuthenticated)
	defer c.pc.Close()
	stopKeepalive := c.startKeepalive()
	defer stopKeepalive()
	c.log.Info("authenticated", "key", c.key.Fingerprint(), "comment", c.key.Comment)
	err = c.loop()
	c.endSession()
	c.stopHelper()
	c.endFollow()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.log.Info("connection ended", "err", err)
		c.lingerClose()
	}
}

// Bounds of lingerClose: long enough for a peer to read an error frame,
// short and small enough that a hostile peer gains nothing by it.
const (
	lingerTime = time.Second
	lingerMax  = 256 << 10
)

// lingerClose ends a connection the server gave up on (after an error
// frame, usually) without losing that frame: closing a socket with unread
// input makes the kernel send RST, and the peer may then never read what
// was written just before. So: half-close, discard what the peer still
// sends for a moment, then close.
func (c *serverConn) lingerClose() {
	if hc, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.Copy(io.Discard, io.LimitReader(c.nc, lingerMax))
	c.nc.Close()
}

func (c *serverConn) unregister() {
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	select { // its descriptor is closed: an accept loop backing off may go on
	case c.s.freed <- struct{}{}:
	default:
	}
}

// errorWriteTimeout bounds the write of an error frame, so that a peer
// that does not read cannot hold the handler.
const errorWriteTimeout = 2 * time.Second

// sendError sends an error frame, bounded in time (errorWriteTimeout).
func (c *serverConn) sendError(code, msg string) {
	c.nc.SetWriteDeadline(time.Now().Add(errorWriteTimeout))
	_ = c.pc.Send(protocol.Error{Code: code, Message: msg})
	c.nc.SetWriteDeadline(time.Time{})
}

// protocolFailure reports a decoding or limit error to the peer (when the
// stream is still writable) and returns it for the log.
func (c *serverConn) protocolFailure(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return err
	}
	if code := protocol.CodeFor(err); code != protocol.CodeInternal {
		c.sendError(code, err.Error())
	}
	return fmt.Errorf("%s: %w", what, err)
}

// closeIfIdle closes the connection if no request runs (Shutdown, the
// idle timeout).
func (c *serverConn) closeIfIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.busyLocked() && !c.closed {
		c.closed = true
		c.nc.Close()
	}
}

// abort kills the running session, if any, and closes the connection.
func (c *serverConn) abort() { c.abortWith(errAborted) }

// abortWith is abort with the cause the session's end records. When the
// server shuts down, an authenticated client is told so first (error
// unavailable), so that its user reads why the command ended rather than
// a bare "connection lost".
func (c *serverConn) abortWith(cause error) {
	c.mu.Lock()
	s := c.active
	c.closed = true
	c.mu.Unlock()
	if s != nil {
		s.cancel(cause)
	}
	if cause == errAborted && c.authKey.Load() != nil {
		msg := "the server is shutting down"
		if s != nil {
			msg += ": the grace period is over and the command was killed"
		}
		c.sendError(protocol.CodeUnavailable, msg)
	}
	c.nc.Close()
}

// endSession cancels a session still running when the reader stops (the
// client vanished) and waits for it to be torn down.
func (c *serverConn) endSession() {
	c.mu.Lock()
	s := c.active
	c.mu.Unlock()
	if s == nil {
		return
	}
	if s.link != nil { // resumable: it waits for its client, or was taken over
		if s.lose(c) {
			c.mu.Lock()
			if c.active == s {
				c.active, c.req = nil, noRequest
			}
			c.mu.Unlock()
		}
		return
	}
	s.cancel(errClientGone)
	<-s.finished
}
