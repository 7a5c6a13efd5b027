package legacy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// readChunk is the size of each read from a client; commands are small.
const readChunk = 4 << 10

// Reasons a connection ends, for the log.
var (
	errClientLeft  = errors.New("legacy: client closed the connection")
	errIdle        = errors.New("legacy: client idle too long")
	errSlowCommand = errors.New("legacy: command still arriving after MaxCommandWait")
	errQuiet       = errors.New("legacy: quiet window passed") // not a failure: the command is complete
	errForeign     = errors.New("legacy: refused a command that looks like another protocol")
)

// serverConn is one client connection. Its reader goroutine is the only
// one reading nc and hands chunks over; the handler goroutine (serveConn)
// owns everything else, including every write to nc.
type serverConn struct {
	s      *Server
	st     *serving
	nc     net.Conn
	log    *slog.Logger
	remote string // the peer's "ip:port", for the log and the audit
	// peerUID is the uid owning the client's socket, nil when unknown
	// (a client on another host).
	peerUID *int
	chunks  chan []byte   // from readLoop; closed on EOF or read error
	quit    chan struct{} // closed by the handler to stop readLoop
	wg      sync.WaitGroup
	// pending holds bytes that arrived while a command ran: the start of
	// the next command (touched by the handler only).
	pending []byte
}

// serveConn checks who the client is, then runs commands from nc in turn
// until the client leaves, misbehaves or idles, or ctx is done. It returns
// after closing nc and stopping the reader goroutine.
func (s *Server) serveConn(ctx context.Context, nc net.Conn, st *serving) {
	c := &serverConn{
		s: s, st: st, nc: nc, chunks: make(chan []byte), quit: make(chan struct{}),
		remote: nc.RemoteAddr().String(),
	}
	c.log = s.logger().With("remote", c.remote)
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer func() {
		stop()
		nc.Close()
		close(c.quit)
		c.wg.Wait()
	}()
	if rule, reason := c.admit(); rule != "" {
		c.refuse(rule, reason, "")
		return
	}
	c.wg.Go(c.readLoop)
	c.log.Info("legacy client connected", "peer_uid", c.peerUIDAttr())
	for {
		cmd, err := c.nextCommand(ctx)
		if err == nil {
			err = c.execute(ctx, string(cmd))
		}
		if err != nil {
			c.log.Info("legacy client done", "reason", err.Error())
			return
		}
	}
}

// admit looks up the owner of the client's socket and applies the
// policy; it returns the rule that refuses the client and why, or "".
func (c *serverConn) admit() (rule, reason string) {
	peer, okPeer := tcpAddrPort(c.nc.RemoteAddr())
	local, okLocal := tcpAddrPort(c.nc.LocalAddr())
	if !okPeer || !okLocal {
		return ruleAllowFrom, "not a TCP connection"
	}
	uid, err := socketOwner(c.s.procRoot, peer, local)
	if err == nil {
		c.peerUID = &uid
	}
	return c.st.policy.admit(peer.Addr(), uid, err)
}

// peerUIDAttr is the peer uid for the log: a number, or "unknown".
func (c *serverConn) peerUIDAttr() any {
	if c.peerUID == nil {
		return "unknown"
	}
	return *c.peerUID
}

// refuse logs (within the refusal rate limit) and audits a refused
// connection or command; what is the start of the refused bytes, when
// they are worth keeping. The caller then closes the connection.
func (c *serverConn) refuse(rule, reason, what string) {
	if ok, suppressed := c.st.prelog.Allow(); ok {
		attrs := []any{"rule", rule, "reason", reason, "peer_uid", c.peerUIDAttr()}
		if what != "" {
			attrs = append(attrs, "command", what)
		}
		if suppressed > 0 {
			attrs = append(attrs, "suppressed", suppressed)
		}
		c.log.Warn("legacy connection refused", attrs...)
	}
	c.auditDenied(rule, reason, what)
}

// readLoop reads nc and hands each chunk to the handler until a read
// fails (EOF included) or the handler quits.
func (c *serverConn) readLoop() {
	defer close(c.chunks)
	for {
		buf := make([]byte, readChunk)
		n, err := c.nc.Read(buf)
		if n > 0 {
			select {
			case c.chunks <- buf[:n]:
			case <-c.quit:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// nextCommand returns the next command: bytes already pending, or the
// first chunk to arrive within the idle timeout, extended by gather.
func (c *serverConn) nextCommand(ctx context.Context) ([]byte, error) {
	cmd := c.pending
	c.pending = nil
	if len(cmd) == 0 {
		b, err := c.waitChunk(ctx, c.s.idleTimeout(), errIdle)
		if err != nil {
			return nil, err
		}
		cmd = b
	}
	return c.gather(ctx, cmd)
}

// gather extends cmd with every chunk arriving within QuietWindow of the
// previous one. It refuses a command over MaxCommandSize, one still
// growing after MaxCommandWait, and one whose client left before it was
// complete (nobody would read the reply).
func (c *serverConn) gather(ctx context.Context, cmd []byte) ([]byte, error) {
	deadline := time.Now().Add(MaxCommandWait)
	for len(cmd) <= MaxCommandSize {
		wait := min(QuietWindow, time.Until(deadline))
		if wait <= 0 {
			return nil, errSlowCommand
		}
		b, err := c.waitChunk(ctx, wait, errQuiet)
		if errors.Is(err, errQuiet) {
			return cmd, nil
		}
		if err != nil {
			return nil, err
		}
		cmd = append(cmd, b...)
	}
	return nil, fmt.Errorf("%w: over %d bytes", ErrCommandTooLong, MaxCommandSize)
}

// waitChunk waits up to d for the next chunk; timeoutErr on timeout,
// errClientLeft when the client closed, the cause when ctx is done.
func (c *serverConn) waitChunk(ctx context.Context, d time.Duration, timeoutErr error) ([]byte, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case b, ok := <-c.chunks:
		if !ok {
			return nil, errClientLeft
		}
		return b, nil
	case <-t.C:
		return nil, timeoutErr
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// takeEarly files a chunk that arrived while a command ran as the start of
// the next command, refusing to hold more than MaxCommandSize.
func (c *serverConn) takeEarly(b []byte) error {
	if len(c.pending)+len(b) > MaxCommandSize {
		return fmt.Errorf("%w: %d bytes sent while a command ran", ErrCommandTooLong, len(c.pending)+len(b))
	}
	c.pending = append(c.pending, b...)
	return nil
}
