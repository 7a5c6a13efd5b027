package server

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/metrics"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/session"
)

// Resumable sessions (PROTOCOL.md §9.5, docs/SECURITY.md "Resumable
// sessions"). An exec with resume keeps every output byte until the
// client acknowledges it (output_ack), in a ring of at most ResumeBuffer
// bytes per stream: past that the pump stops reading and the command
// blocks on its full pipe, as it would behind a slow client. When the
// connection drops, the session is kept for ResumeWindow under a token
// only the same key may present; a resume from a new connection
// replays each stream from the offset the client says it has, tells the
// client how much stdin the server holds, and the session goes on.

// resumeLink is what of a resumable session depends on the connection
// it is served on.
type resumeLink struct {
	// mu guards wire, token, exit and the stdin counters; the stdin
	// acks and the switch of wire happen under it, so a resumed client
	// never counts an ack twice or misses one.
	mu       sync.Mutex
	wire     *serverConn // nil while the connection is lost
	token    string
	owner    string // the key's fingerprint and account the token is bound to
	recv     int64  // stdin bytes received in all
	acked    int64  // stdin bytes acknowledged in all
	eof      bool   // stdin_eof received
	exit     *protocol.Exit
	exitSent bool
	expiry   *time.Timer // ends the session when the window passes
	outs     [2]*outStream
}

// outStream is one output stream's unacknowledged bytes: absolute
// offsets [start, end) are in buf (a ring indexed by offset mod len);
// sent is where the current connection's frames have got to.
type outStream struct {
	name   string
	max    int
	sendMu sync.Mutex // serializes the frames of this stream (flush, resume)

	mu      sync.Mutex // guards the fields below
	cond    *sync.Cond
	buf     []byte
	start   int64
	end     int64
	sent    int64
	stopped bool
}

func newOutStream(name string, max int) *outStream {
	o := &outStream{name: name, max: max, buf: make([]byte, smallReadSize)}
	o.cond = sync.NewCond(&o.mu)
	return o
}

// space waits for free room and returns a slice of the ring to read
// into (contiguous, at most limit bytes), or nil once stopped.
func (o *outStream) space(limit int) []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	for {
		if o.stopped {
			return nil
		}
		used := int(o.end - o.start)
		if used == len(o.buf) && len(o.buf) < o.max {
			o.growLocked(min(len(o.buf)*2, o.max))
		}
		if free := len(o.buf) - used; free > 0 {
			p := int(o.end % int64(len(o.buf)))
			n := min(free, len(o.buf)-p, limit)
			return o.buf[p : p+n]
		}
		o.cond.Wait()
	}
}

// growLocked moves the ring into a larger buffer; a slice of the old one
// being sent stays valid (its bytes never change).
func (o *outStream) growLocked(size int) {
	nb := make([]byte, size)
	for off := o.start; off < o.end; {
		p := int(off % int64(len(o.buf)))
		n := min(int(o.end-off), len(o.buf)-p)
		q := int(off % int64(size))
		m := min(n, size-q)
		copy(nb[q:q+m], o.buf[p:p+m])
		off += int64(m)
	}
	o.buf = nb
}

// commit makes n bytes read into the slice space returned part of the
// stream.
func (o *outStream) commit(n int) {
	o.mu.Lock()
	o.end += int64(n)
	o.mu.Unlock()
}

// pending returns the next contiguous bytes to send, at most a frame's.
func (o *outStream) pending() (int64, []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.sent >= o.end {
		return o.sent, nil
	}
	p := int(o.sent % int64(len(o.buf)))
	n := min(int(o.end-o.sent), len(o.buf)-p, protocol.MaxDataBody)
	return o.sent, o.buf[p : p+n]
}

func (o *outStream) setSent(off int64) {
	o.mu.Lock()
	o.sent = max(o.sent, off)
	o.mu.Unlock()
}

// ack forgets the bytes below off; an offset past what exists is the
// client's violation.
func (o *outStream) ack(off int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if off > o.end {
		return fmt.Errorf("output_ack: %s offset %d beyond the %d bytes produced", o.name, off, o.end)
	}
	if off > o.start {
		o.start = off
		o.sent = max(o.sent, off)
		o.cond.Broadcast()
	}
	return nil
}

// rewind sets where the next frames start, for a resume: the client has
// everything below off. It must lie within what is kept.
func (o *outStream) rewind(off int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if off < o.start || off > o.end {
		return fmt.Errorf("resume: %s offset %d outside the %d to %d bytes the server holds", o.name, off, o.start, o.end)
	}
	o.start, o.sent = off, off
	o.cond.Broadcast()
	return nil
}

// stop wakes a pump waiting for room: the session is over, its output
// is read and dropped from now on.
func (o *outStream) stop() {
	o.mu.Lock()
	o.stopped = true
	o.cond.Broadcast()
	o.mu.Unlock()
}

// newToken returns a fresh resume token: 32 random bytes in hex.
func newToken() string {
	var b [protocol.TokenLen / 2]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand ends the process rather than return an error
	return hex.EncodeToString(b[:])
}

// ownerOf is what a token is bound to: the connection's key and account.
func (c *serverConn) ownerOf() string { return auth.Fingerprint(c.key.Key) + " " + c.acct.name }

// makeResumable sets a new session up for resumption: its streams, its
// token registered with the server, and the resume_token sent first.
func (s *execSession) makeResumable() error {
	cfg := s.c.s.cfg
	l := &resumeLink{wire: s.c, owner: s.c.ownerOf(), token: newToken()}
	l.outs = [2]*outStream{newOutStream(protocol.TypeStdout, cfg.ResumeBuffer), newOutStream(protocol.TypeStderr, cfg.ResumeBuffer)}
	s.link = l
	s.c.s.registerResumable(l.token, s)
	return s.c.pc.Send(protocol.ResumeToken{Token: l.token, WindowMS: cfg.ResumeWindow.Milliseconds(), Buffer: int64(cfg.ResumeBuffer)})
}

// registerResumable files s under token.
func (srv *Server) registerResumable(token string, s *execSession) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.resumable == nil {
		srv.resumable = map[string]*execSession{}
	}
	srv.resumable[token] = s
}

// takeResumable removes and returns the session of token if owner may
// resume it; the token is spent either way it was found.
func (srv *Server) takeResumable(token, owner string) *execSession {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, ok := srv.resumable[token]
	if !ok {
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(s.link.owner), []byte(owner)) != 1 {
		return nil // another key's: left in place for its owner
	}
	delete(srv.resumable, token)
	return s
}

// dropResumable forgets s (its end, or its window passed); it reports
// whether s was held under a token (not taken by a resume meanwhile).
func (srv *Server) dropResumable(s *execSession) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	held := false
	for tok, x := range srv.resumable {
		if x == s {
			delete(srv.resumable, tok)
			held = true
		}
	}
	return held
}

// cancelResumable ends every session waiting for its client (shutdown).
func (srv *Server) cancelResumable() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, s := range srv.resumable {
		s.cancel(errAborted)
	}
}

// wire is the connection a resumable session is served on now, or nil.
func (s *execSession) wire() *serverConn {
	s.link.mu.Lock()
	defer s.link.mu.Unlock()
	return s.link.wire
}

// pumpResumable is pump for a resumable session: read into the ring,
// then send what is new on the current connection, if any.
func (s *execSession) pumpResumable(r io.Reader, o *outStream, wg *sync.WaitGroup) {
	defer wg.Done()
	limit := smallReadSize
	var discard []byte
	for {
		buf := o.space(limit)
		draining := buf == nil
		if draining { // over: drain so the command is not blocked
			if discard == nil {
				discard = make([]byte, bulkReadSize)
			}
			buf = discard
		}
		n, err := r.Read(buf)
		if n > 0 && !draining {
			s.audit.output(o.name, buf[:n])
			o.commit(n)
			s.flush(o)
			if n == len(buf) {
				limit = bulkReadSize
			}
		}
		if err != nil {
			return
		}
	}
}

// flush sends what the current connection has not had of o. A failed
// send closes that connection: its reader then ends and the session
// waits for a resume.
func (s *execSession) flush(o *outStream) {
	o.sendMu.Lock()
	defer o.sendMu.Unlock()
	c := s.wire()
	if c == nil {
		return
	}
	for {
		off, b := o.pending()
		if len(b) == 0 {
			return
		}
		if err := c.pc.Send(protocol.Data{Stream: o.name, Body: b}); err != nil {
			c.nc.Close()
			return
		}
		o.setSent(off + int64(len(b)))
	}
}

// pushStdin queues input that arrived on c, unless c is no longer the
// session's connection (input read from a connection being replaced
// would be counted twice).
func (s *execSession) pushStdin(c *serverConn, b []byte) error {
	l := s.link
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wire != c {
		return nil
	}
	if err := s.stdin.push(b); err != nil {
		return err
	}
	l.recv += int64(len(b))
	return nil
}

// stdinEOF records the end of input that arrived on c.
func (s *execSession) stdinEOF(c *serverConn) {
	l := s.link
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wire == c {
		l.eof = true
		s.stdin.closeInput()
	}
}

// ackStdin counts n bytes written to the process and tells the current
// connection, if any.
func (s *execSession) ackStdin(n int) {
	l := s.link
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acked += int64(n)
	if l.wire != nil {
		if err := l.wire.pc.Send(protocol.StdinAck{Count: int64(n)}); err != nil {
			l.wire.nc.Close()
		}
	}
}

// lose detaches s from c, whose connection ended: the window starts.
// It reports false when c was not s's connection (already replaced).
func (s *execSession) lose(c *serverConn) bool {
	l := s.link
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wire != c {
		return false
	}
	l.wire = nil
	c.log.Info("connection lost; session kept for a resume", "id", s.p.ID(), "window", c.s.cfg.ResumeWindow)
	l.expiry = time.AfterFunc(c.s.cfg.ResumeWindow, func() { s.expire() })
	return true
}

// expire ends a session whose window passed without a resume. A resume
// that took the session's token first wins: the session is no longer
// held, and that resume re-arms the window if it is refused (hold).
func (s *execSession) expire() {
	l := s.link
	l.mu.Lock()
	lost := l.wire == nil
	l.mu.Unlock()
	if !lost || !s.c.s.dropResumable(s) {
		return
	}
	s.cancel(errClientGone)
	for _, o := range l.outs {
		o.stop()
	}
}

// endResumable is the end of run for a resumable session: the end
// record, then the exit now or at the resume, or, when the session was
// cancelled (its window passed, abort, shutdown), no exit at all.
func (s *execSession) endResumable(exit protocol.Exit, status session.Status, timedOut bool, cause error) {
	s.audit.end(exitRecord(exit, cause), s.c)
	s.c.log.Info("session ended", "id", s.p.ID(), "status", status.String(), "timed_out", timedOut,
		"cause", cause, "duration", time.Since(s.start))
	if cause == nil {
		s.finishResumable(exit)
		return
	}
	s.c.s.dropResumable(s)
	s.link.mu.Lock()
	w := s.link.wire
	s.link.mu.Unlock()
	if w != nil {
		w.clearActive(s)
		w.exitSent()
	}
}

// finishResumable is the end of run for a resumable session: the exit
// goes out now on the current connection, or at the resume.
func (s *execSession) finishResumable(exit protocol.Exit) {
	l := s.link
	l.mu.Lock()
	l.exit = &exit
	l.mu.Unlock()
	s.deliverExit()
}

// deliverExit sends the pending exit once every output byte went out on
// the current connection. The session stays filed under its token until
// the client acknowledges the exit (output_ack with exit) or the window
// passes: an exit written into a connection that was already cut never
// arrives, and the client's resume must still find it.
func (s *execSession) deliverExit() {
	for _, o := range s.link.outs {
		s.flush(o)
	}
	l := s.link
	l.mu.Lock()
	c, exit := l.wire, l.exit
	if c == nil || exit == nil || l.exitSent {
		l.mu.Unlock()
		return
	}
	l.exitSent = true
	if l.expiry != nil {
		l.expiry.Stop()
	}
	l.expiry = time.AfterFunc(s.c.s.cfg.ResumeWindow, func() { s.forget(c) })
	l.mu.Unlock()
	c.clearActive(s)
	c.mu.Lock()
	c.unacked = s
	c.mu.Unlock()
	if old, oldWire := s.c.s.awaitAck(s, c); old != nil {
		old.forget(oldWire)
	}
	_ = c.pc.Send(*exit)
	c.exitSent()
}

// awaitAck files s, whose exit goes out on c, among the ended sessions
// awaiting an acknowledgement. They are bounded as running sessions are
// (MaxSessions), so a client that never acknowledges cannot pile up
// ended sessions and their output: past the bound, one filed earlier is
// returned to be forgotten (it only loses the chance of a resend).
func (srv *Server) awaitAck(s *execSession, c *serverConn) (*execSession, *serverConn) {
	bound := srv.running.limit()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.unacked == nil {
		srv.unacked = map[*execSession]*serverConn{}
	}
	srv.unacked[s] = c
	if len(srv.unacked) <= bound {
		return nil, nil
	}
	for old, w := range srv.unacked {
		if old != s {
			delete(srv.unacked, old)
			return old, w
		}
	}
	return nil, nil
}

// forget ends the hold of a session whose exit went out on c: the
// client acknowledged it, or the window passed. It does nothing once a
// resume has moved the session to another connection.
func (s *execSession) forget(c *serverConn) {
	l := s.link
	l.mu.Lock()
	mine := l.exitSent && l.wire == c
	if mine && l.expiry != nil {
		l.expiry.Stop()
	}
	l.mu.Unlock()
	if !mine {
		return
	}
	srv := s.c.s
	srv.mu.Lock()
	if srv.unacked[s] == c {
		delete(srv.unacked, s)
	}
	srv.mu.Unlock()
	if srv.dropResumable(s) {
		for _, o := range l.outs {
			o.stop()
		}
	}
}

// ackExit is the client's acknowledgement of the exit sent on c: the
// session is forgotten at once. An acknowledgement with no exit awaiting
// one (repeated, or from a peer that sends it anyway) changes nothing.
func (c *serverConn) ackExit() {
	c.mu.Lock()
	s := c.unacked
	c.unacked = nil
	c.mu.Unlock()
	if s != nil {
		s.forget(c)
	}
}

// hold files s under token again after a resume of it was refused, and
// restarts its window: the session waits for its owner as before, and
// ends as connection_lost if nobody resumes it.
func (s *execSession) hold(token string) {
	l := s.link
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wire == nil {
		l.expiry = time.AfterFunc(s.c.s.cfg.ResumeWindow, s.expire)
	}
	s.c.s.registerResumable(token, s)
}

// resumeSession serves resume: the session of the token, if this key
// may have it, moves to this connection.
func (c *serverConn) resumeSession(m protocol.Resume) error {
	if err := c.claim(execRequest); err != nil {
		return err
	}
	s := c.s.takeResumable(m.Token, c.ownerOf())
	if s == nil {
		c.release()
		c.s.cfg.Metrics.Resumed(metrics.ResumeRefused)
		c.auditJob("resume", "", protocol.CodeUnknownSession, "unknown, spent or another key's token")
		c.sendError(protocol.CodeUnknownSession, "no session to resume for this token and key: it ended, its window passed, or the token was used already")
		return nil
	}
	l := s.link
	// Take over: the old connection, if the server has not noticed it
	// is gone, is closed; input it still delivers is dropped (pushStdin).
	l.mu.Lock()
	if l.expiry != nil {
		l.expiry.Stop()
	}
	old := l.wire
	l.wire = nil
	l.mu.Unlock()
	if old != nil {
		old.mu.Lock()
		if old.active == s {
			old.active, old.req = nil, noRequest
		}
		old.mu.Unlock()
		old.nc.Close()
	}
	for _, o := range l.outs {
		o.sendMu.Lock()
	}
	unlock := func() {
		for _, o := range l.outs {
			o.sendMu.Unlock()
		}
	}
	for i, off := range []int64{m.Stdout, m.Stderr} {
		if err := l.outs[i].rewind(off); err != nil {
			unlock()
			s.hold(m.Token) // the owner may try again
			c.release()
			c.sendError(protocol.CodeBadRequest, err.Error())
			return nil
		}
	}
	l.mu.Lock()
	if l.expiry != nil {
		l.expiry.Stop()
	}
	l.wire, l.token = c, newToken()
	l.exitSent = false // an exit the old connection may have lost goes out again
	reply := protocol.Resumed{Token: l.token, Stdin: l.recv, StdinAcked: l.acked, StdinEOF: l.eof}
	c.mu.Lock()
	c.active = s
	c.mu.Unlock()
	// Filed under the new token before the wire is released: an exit
	// delivered on c from now on forgets it (deliverExit), never the
	// other way round, which would keep an ended session filed.
	c.s.registerResumable(reply.Token, s)
	err := c.pc.Send(reply)
	l.mu.Unlock()
	unlock()
	c.s.cfg.Metrics.Resumed(metrics.ResumeOK)
	c.auditJob("resume", "", "ok", "session "+s.p.ID())
	c.log.Info("session resumed", "id", s.p.ID(), "stdout", m.Stdout, "stderr", m.Stderr, "stdin", reply.Stdin)
	if err != nil {
		return err
	}
	s.deliverExit()
	return nil
}
