package server

import (
	"net"
	"time"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// The keepalive (PROTOCOL.md §4.5, docs/CLI.md §8) owns an authenticated
// connection's deadlines: between requests a read deadline that drops a
// silent peer (setSilenceDeadline), during an exec session none. While a
// file request runs, its stream owns them instead: every read and write
// of the stream gets streamDeadline, since, unlike an exec session,
// during which the client may rightly say nothing, a transfer keeps
// frames flowing. c.mu orders the hand-over (tickDeadline, and release
// handing them back).

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
	w := watchPeer(c.tcp(), ka, c.s.cfg.uncappedProbes)
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		c.keepalive(w, done)
	}()
	return func() { close(done); <-finished }
}

// keepalive is startKeepalive's goroutine: a tick every interval, a
// look at the watchdog (nil: none) every watchPeriod, until done or it
// closed the connection.
func (c *serverConn) keepalive(w *peerWatch, done <-chan struct{}) {
	ka := c.s.cfg.KeepaliveInterval
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

// idleFor is how long the connection has had no request running.
func (c *serverConn) idleFor() time.Duration {
	c.mu.Lock()
	busy := c.busyLocked()
	c.mu.Unlock()
	if busy {
		c.lastRequest.Store(time.Now().UnixNano())
		return 0
	}
	return time.Since(time.Unix(0, c.lastRequest.Load()))
}

// dropDeadPeer closes the connection of a peer the watchdog found gone;
// the reader then fails and ends the session as a lost connection. Linger
// 0: nothing sent now would be acknowledged, so the kernel drops the
// socket at once instead of retrying its queue for minutes.
func (c *serverConn) dropDeadPeer(st tcpState, limit time.Duration) {
	c.log.Info("peer gone: its kernel answered nothing", "silence", st.silence, "limit", limit,
		"unacked_segments", st.unacked, "unsent_bytes", st.notsent, "probes_unanswered", st.probes)
	if tc, ok := c.tcp().(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.nc.Close()
}

// tickDeadline is the keepalive's setSilenceDeadline, except while a file
// request runs: its stream owns the deadlines then.
func (c *serverConn) tickDeadline(busy bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.req != fileRequest {
		c.setSilenceDeadline(busy)
	}
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

// streamDeadline is the deadline of each read and write of a file's
// stream: a peer that neither reads nor writes for keepaliveMisses
// intervals is dropped.
func (c *serverConn) streamDeadline() time.Time {
	return time.Now().Add(keepaliveMisses * c.s.cfg.KeepaliveInterval)
}

// endStreamDeadlinesLocked hands the deadlines back to the keepalive when
// a file request ends: the silence deadline, counted from now, and no
// write deadline. c.mu is held.
func (c *serverConn) endStreamDeadlinesLocked() {
	c.setSilenceDeadline(false)
	_ = c.nc.SetWriteDeadline(time.Time{})
}

// recv reads the next frame; every frame read is a sign of life for the
// keepalive.
func (c *serverConn) recv() (protocol.Message, error) {
	m, err := c.pc.Recv()
	c.lastFrame.Store(time.Now().UnixNano())
	return m, err
}

// answerPing is the server's one answer to the peer's keepalive
// (PROTOCOL.md §4.5), wherever the reader is: a ping gets a pong through
// send, a pong is dropped. It reports whether m was either, and the error
// of sending the pong.
func answerPing(m protocol.Message, send func(protocol.Message) error) (bool, error) {
	switch m.(type) {
	case protocol.Ping:
		return true, send(protocol.Pong{})
	case protocol.Pong:
		return true, nil
	}
	return false, nil
}
