package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/metrics"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transport"
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
	// authKey is key for other goroutines (the authorized_keys watcher):
	// set once, when the connection is authenticated.
	authKey atomic.Pointer[auth.AuthorizedKey]

	lastRequest atomic.Int64 // unix nanos of the last request or busy moment, for the idle timeout
	lastFrame   atomic.Int64 // unix nanos of the last frame read, for the keepalive

	mu     sync.Mutex // mu guards active, exiting, xfer and closed
	active *execSession
	// xfer is set while the reader itself serves a file request
	// (transfer.go): the connection is busy, not idle.
	xfer bool
	// xaudit is the audit of the file request being served; only the
	// reader goroutine, which serves it, touches it.
	xaudit *sessionAudit
	// exiting counts sessions that have left active but are still
	// sending their exit: the connection is not idle until it is out.
	exiting int
	closed  bool
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
	c.log.Info("authenticated", "key", auth.Fingerprint(c.key.Key), "comment", c.key.Comment)
	err = c.loop()
	c.endSession()
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

// authenticate runs the TLS handshake, the authorized_keys check and the
// hello exchange under one absolute deadline (LoginGrace): a peer cannot
// extend it by trickling bytes.
func (c *serverConn) authenticate() error {
	start := time.Now()
	if c.adm != nil {
		start = c.adm.accepted
	}
	if err := c.nc.SetDeadline(start.Add(c.s.cfg.LoginGrace)); err != nil {
		return err
	}
	tc := tls.Server(c.nc, c.s.tls)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	c.pc = protocol.NewConn(tc)
	if err := c.authorize(tc.ConnectionState()); err != nil {
		c.sendError(protocol.CodeUnauthorized, err.Error())
		c.pc.Close()
		return err
	}
	if err := c.hello(); err != nil {
		c.pc.Close()
		return err
	}
	return c.nc.SetDeadline(time.Time{})
}

func (c *serverConn) authorize(cs tls.ConnectionState) error {
	pub, err := transport.PeerKey(cs)
	if err != nil {
		return err
	}
	key, err := c.s.authorizedKeys().Lookup(pub, c.ip)
	if errors.Is(err, auth.ErrFromRefused) {
		c.auditRefusedKey(pub, "from=", "key not authorized from "+c.remote)
		return unauthorizedError(fmt.Sprintf("key %s is not authorized from this address", auth.Fingerprint(pub)))
	}
	if err != nil {
		c.auditRefusedKey(pub, "authorized_keys", "key not in authorized_keys")
		return unauthorizedError(fmt.Sprintf("key %s is not authorized on this server", auth.Fingerprint(pub)))
	}
	c.key = key
	c.authKey.Store(key)
	return nil
}

// reauthorize checks, before each request, that the connection's key is
// still in authorized_keys with the same options (docs/SECURITY.md,
// "Revocation and StrictModes"): a removed key, a key whose line changed,
// and any key while the file fails closed get the fatal error "revoked",
// which ends the connection. A client reconnects to use a changed line.
func (c *serverConn) reauthorize(m protocol.Message) error {
	fp := auth.Fingerprint(c.key.Key)
	var msg string
	k, err := c.s.authorizedKeys().Lookup(c.key.Key, c.ip)
	switch {
	case err != nil && c.s.keysFailed():
		msg = "this server's authorized_keys is unsafe or unreadable: no key is authorized until its administrator fixes it"
	case err != nil:
		msg = fmt.Sprintf("key %s is no longer authorized on this server (removed from authorized_keys)", fp)
	case !reflect.DeepEqual(k.Options, c.key.Options):
		msg = fmt.Sprintf("the authorized_keys line of key %s changed; reconnect to use it", fp)
	default:
		return nil
	}
	c.log.Info("request refused: key revoked", "key", fp, "request", m.Type(), "reason", msg)
	c.auditRevoked(m, msg)
	c.sendError(protocol.CodeRevoked, msg)
	return errRevoked
}

func (c *serverConn) hello() error {
	m, err := c.pc.Recv()
	if err != nil {
		return c.protocolFailure("reading hello", err)
	}
	h, ok := m.(protocol.Hello)
	if !ok {
		c.sendError(protocol.CodeProtocol, "expected hello, got "+m.Type())
		return fmt.Errorf("expected hello, got %s", m.Type())
	}
	if h.Version != protocol.Version {
		msg := fmt.Sprintf("protocol version %d not supported (server speaks %d)", h.Version, protocol.Version)
		c.sendError(protocol.CodeUnsupportedVersion, msg)
		return errors.New(msg)
	}
	if h.User != "" && h.User != c.s.user {
		msg := fmt.Sprintf("this server runs sessions as %q; user %q is not available", c.s.user, h.User)
		c.sendError(protocol.CodeDenied, msg)
		return errors.New(msg)
	}
	return c.pc.Send(protocol.Hello{Version: protocol.Version, Software: c.s.cfg.Software,
		OS: hostOS(), Encoding: "utf-8", User: c.s.user})
}

// unauthorizedError is a refused client key; its text goes to the client.
type unauthorizedError string

func (e unauthorizedError) Error() string { return string(e) }

// leaveGate ends the connection's pre-auth accounting and penalises its
// source for a failed authentication (docs/CLI.md §8, like sshd's PerSourcePenalties).
func (c *serverConn) leaveGate(err error) {
	if c.adm == nil {
		return
	}
	c.s.gate.leave(c.adm.src, c.adm.known)
	if err == nil || !c.adm.known {
		return
	}
	kind := penaltyNoAuth
	switch {
	case errors.As(err, new(unauthorizedError)):
		kind = penaltyAuthFail
		c.s.cfg.Metrics.AuthFailed()
	case errors.Is(err, os.ErrDeadlineExceeded):
		kind = penaltyGrace
	}
	c.s.gate.penalize(c.adm.src, kind)
	c.s.cfg.Metrics.SetPenalised(c.s.gate.penalised())
}

// startKeepalive pings an idle peer every KeepaliveInterval and closes the
// connection when it has been idle (no session, no request) for
// IdleTimeout. Between sessions a peer that sends nothing, not even a pong,
// for keepaliveMisses intervals is taken for dead (a read deadline). During
// a session there is no such deadline and no ping: a client paused on its
// own stdout (`| less`) reads nothing and must not lose its session. At
// all times the dead-peer watchdog (deadpeer.go) closes the connection
// once the peer's kernel has answered nothing for silenceLimit, which a
// live peer's kernel does however paused its application is. The
// returned stop waits for the goroutine to end.
func (c *serverConn) startKeepalive() (stop func()) {
	now := time.Now().UnixNano()
	c.lastRequest.Store(now)
	c.lastFrame.Store(now)
	ka := c.s.cfg.KeepaliveInterval
	w := watchPeer(c.nc, ka, c.s.cfg.uncappedProbes)
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(ka)
		defer t.Stop()
		var watch <-chan time.Time // nil, never ready, without a watchdog
		if w != nil {
			wt := time.NewTicker(watchPeriod(ka))
			defer wt.Stop()
			watch = wt.C
		}
		for {
			select {
			case <-done:
				return
			case <-watch:
				if st, gone := w.gone(); gone {
					c.dropDeadPeer(st, w.limit)
					return
				}
			case <-t.C:
				if !c.keepaliveTick() {
					return
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// keepaliveTick runs every KeepaliveInterval: the idle timeout, the
// between-sessions deadline and the ping. It reports false once it closed
// the connection.
func (c *serverConn) keepaliveTick() bool {
	idle := c.idleFor()
	if idle > c.s.cfg.IdleTimeout {
		c.log.Info("closing idle connection", "idle_timeout", c.s.cfg.IdleTimeout)
		c.closeIfIdle()
		return false
	}
	busy := idle == 0
	c.tickDeadline(busy)
	if !busy { // a client in a session need not read: no ping to pile up
		_ = c.pc.Send(protocol.Ping{})
	}
	return true
}

// dropDeadPeer closes the connection of a peer the watchdog found gone;
// the reader then fails and ends the session as a lost connection. Linger
// 0: nothing sent now would be acknowledged, so the kernel drops the
// socket at once instead of retrying its queue for minutes.
func (c *serverConn) dropDeadPeer(st tcpState, limit time.Duration) {
	c.log.Info("peer gone: its kernel answered nothing", "silence", st.silence, "limit", limit,
		"unacked_segments", st.unacked, "unsent_bytes", st.notsent, "probes_unanswered", st.probes)
	if tc, ok := c.nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.nc.Close()
}

// setSilenceDeadline arms the between-sessions read deadline, counted from
// the later of the last frame read and the last busy moment, or clears it
// while a session runs.
func (c *serverConn) setSilenceDeadline(busy bool) {
	if busy {
		_ = c.nc.SetReadDeadline(time.Time{})
		return
	}
	last := max(c.lastFrame.Load(), c.lastRequest.Load())
	_ = c.nc.SetReadDeadline(time.Unix(0, last).Add(keepaliveMisses * c.s.cfg.KeepaliveInterval))
}

// idleFor is how long the connection has had no session and no request.
func (c *serverConn) idleFor() time.Duration {
	c.mu.Lock()
	busy := c.active != nil || c.exiting > 0 || c.xfer
	c.mu.Unlock()
	if busy {
		c.lastRequest.Store(time.Now().UnixNano())
		return 0
	}
	return time.Since(time.Unix(0, c.lastRequest.Load()))
}

// loop reads requests until the connection ends.
func (c *serverConn) loop() error {
	for {
		m, err := c.pc.Recv()
		c.lastFrame.Store(time.Now().UnixNano())
		if err != nil {
			return c.protocolFailure("reading request", err)
		}
		if err := c.dispatch(m); err != nil {
			return err
		}
	}
}

func (c *serverConn) dispatch(m protocol.Message) error {
	switch m.(type) {
	case protocol.Exec, protocol.Stat, protocol.Put, protocol.Get:
		if err := c.reauthorize(m); err != nil {
			return err
		}
	}
	switch m := m.(type) {
	case protocol.Exec:
		return c.startExec(m)
	case protocol.Data:
		if m.Stream != protocol.TypeStdin {
			return c.unexpected(m)
		}
		return c.withSession(func(s *execSession) error { s.audit.input(len(m.Body)); return s.stdin.push(m.Body) })
	case protocol.StdinEOF:
		return c.withSession(func(s *execSession) error { s.stdin.closeInput(); return nil })
	case protocol.Signal:
		return c.withSession(func(s *execSession) error { return s.signal(m.Signal) })
	case protocol.Resize:
		return c.withSession(func(s *execSession) error { s.resize(m.Rows, m.Cols); return nil })
	case protocol.Stat, protocol.Put, protocol.Get:
		c.auditFileDenied(m)
		return c.serveTransfer(m)
	case protocol.Ping:
		return c.pc.Send(protocol.Pong{})
	case protocol.Pong:
		return nil
	}
	return c.unexpected(m)
}

// withSession applies f to the running session. Input for a session that
// has just ended is dropped: the client may have sent it before it saw exit.
func (c *serverConn) withSession(f func(*execSession) error) error {
	c.mu.Lock()
	s := c.active
	c.mu.Unlock()
	if s == nil {
		return nil
	}
	if err := f(s); err != nil {
		c.sendError(protocol.CodeProtocol, err.Error())
		return err
	}
	return nil
}

func (c *serverConn) unexpected(m protocol.Message) error {
	msg := fmt.Sprintf("unexpected %s message from client", m.Type())
	c.sendError(protocol.CodeProtocol, msg)
	return errors.New(msg)
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

// sendError sends an error frame, bounded in time so a peer that does not
// read cannot hold the handler.
func (c *serverConn) sendError(code, msg string) {
	c.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_ = c.pc.Send(protocol.Error{Code: code, Message: msg})
	c.nc.SetWriteDeadline(time.Time{})
}

// closeIfIdle closes the connection if no session runs (used by Shutdown).
func (c *serverConn) closeIfIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.active == nil && c.exiting == 0 && !c.xfer && !c.closed {
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
	if s != nil {
		s.cancel(errClientGone)
		<-s.finished
	}
}
