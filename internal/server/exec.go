package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/session"
	"github.com/rexec-dev/rexec/internal/utmp"
)

// Why a session was cancelled, for the log (context.Cause).
var (
	errClientGone = errors.New("client disconnected")
	errAborted    = errors.New("server shut down")
	errRevoked    = errors.New("key revoked: removed from authorized_keys, or its line changed")
)

// Output read sizes: a session starts with a small buffer, so that a
// thousand idle sessions cost little, and grows once the command shows it
// writes in bulk. 256 KiB rather than a full 1 MiB frame: measured faster,
// since the buffer stays in the L2 cache while it is encrypted and sent.
const (
	smallReadSize = 4 << 10
	bulkReadSize  = 256 << 10
)

// execSession is one running exec request. run owns it: it starts the
// pumps, waits for the command, cleans up the tree and sends exactly one
// exit message unless the connection is gone.
type execSession struct {
	c        *serverConn
	p        *session.Process
	req      protocol.Exec
	stdin    *stdinQueue
	ctx      context.Context
	cancel   context.CancelCauseFunc
	finished chan struct{} // closed when run has returned
	start    time.Time
	slot     string // the key whose session slot this holds
	audit    *sessionAudit
	// link is set for an exec with resume (resume.go): the session may
	// move to another connection.
	link *resumeLink
}

// startExec starts the session of an exec request, or refuses it. Only
// a refusal that ends the connection is returned: a denial by the key's
// options is not fatal, the connection stays (PROTOCOL.md §6).
func (c *serverConn) startExec(req protocol.Exec) error {
	if err := c.claim(execRequest); err != nil {
		return err
	}
	s, err := c.newSession(req)
	if s == nil {
		c.release()
		return err
	}
	c.log.Info("session started", "id", s.p.ID(), "command", s.req.Command, "argv", s.req.Argv, "pty", s.req.PTY)
	if req.Resume {
		// The server waits for a session that outlives its connection
		// (Shutdown), so its goroutine is counted with the connections.
		c.s.wg.Add(1)
		if err := s.makeResumable(); err != nil {
			s.cancel(errClientGone)
		}
	}
	go s.run()
	return nil
}

// newSession applies the key's options to req, takes a session slot,
// writes the start record and starts the command. It returns nil with
// the error that ends the connection, or with none when req was denied
// or could not start (the client was told, with error denied or an exit
// of 127).
func (c *serverConn) newSession(req protocol.Exec) (*execSession, error) {
	kind := kindOf(req)
	req, denied := applyPolicy(&c.key.Options, req, c.s.cfg.AcceptEnv)
	if denied != "" {
		c.log.Info("exec denied", "rule", denied, "command", req.Command, "argv", req.Argv, "pty", req.PTY)
		c.auditDenied(kind, req, denied)
		c.sendError(protocol.CodeDenied, denied)
		return nil, nil
	}
	slot := c.key.Fingerprint()
	if reason, ok := c.s.running.acquire(slot); !ok {
		c.sendError(protocol.CodeUnavailable, reason)
		return nil, errors.New(reason)
	}
	spec := specFor(req)
	spec.ID = session.NewID()
	if warning := c.asAccount(&spec); warning != "" {
		_ = c.pc.Send(protocol.Data{Stream: protocol.TypeStderr, Body: []byte("rexec: " + warning + "\n")})
	}
	aud, err := c.beginAudit(spec.ID, kind, req)
	if err != nil {
		c.s.running.release(slot)
		c.sendError(protocol.CodeUnavailable, err.Error())
		return nil, err
	}
	return c.launch(req, spec, slot, aud)
}

// asAccount makes spec run as the connection's account, and adds what
// every session learns of its client (REXEC_CLIENT, REXEC_CONNECTION, as
// sshd's SSH_CLIENT and SSH_CONNECTION). A home directory that does not
// exist makes the session start in "/", as sshd does, and the warning
// returned says so, for the session's stderr.
func (c *serverConn) asAccount(spec *session.Spec) (warning string) {
	spec.Env = append(spec.Env, connectionEnv(c.nc)...)
	u := c.acct.sessionUser()
	if u == nil {
		return ""
	}
	u.TTYGroup = c.s.ttyGroup
	spec.User = u
	if spec.Dir != "" {
		return ""
	}
	if fi, err := os.Stat(u.Home); err != nil || !fi.IsDir() {
		spec.Dir = "/"
		return fmt.Sprintf("could not chdir to home directory %s: it does not exist; starting in /", u.Home)
	}
	return ""
}

// connectionEnv is REXEC_CLIENT ("ip port serverport") and
// REXEC_CONNECTION ("ip port serverip serverport") for a TCP connection.
func connectionEnv(nc net.Conn) []string {
	r, ok1 := nc.RemoteAddr().(*net.TCPAddr)
	l, ok2 := nc.LocalAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return nil
	}
	rip, lip := r.IP.String(), l.IP.String()
	return []string{
		fmt.Sprintf("REXEC_CLIENT=%s %d %d", rip, r.Port, l.Port),
		fmt.Sprintf("REXEC_CONNECTION=%s %d %s %d", rip, r.Port, lip, l.Port),
	}
}

// recordLogin records a terminal session in utmp and wtmp, so that who
// and last show it as they show sshd's; best effort: a daemon that may
// not write them (not root) records nothing.
func (c *serverConn) recordLogin(p *session.Process) {
	tty := p.TTY()
	if tty == "" {
		return
	}
	var host string
	var addr netip.Addr
	if c.ip != nil {
		addr, _ = netip.AddrFromSlice(c.ip)
		addr = addr.Unmap()
		host = addr.String()
	}
	e := utmp.Entry{Line: utmp.Line(tty), User: c.acct.name, Host: host, Addr: addr, PID: p.PID(), Time: time.Now()}
	if err := c.s.cfg.utmp.Login(e); err != nil {
		c.log.Debug("utmp login record not written", "err", err)
	}
}

// recordLogout marks a terminal session's end in utmp and wtmp.
func (c *serverConn) recordLogout(p *session.Process) {
	if tty := p.TTY(); tty != "" {
		if err := c.s.cfg.utmp.Logout(utmp.Line(tty), p.PID(), time.Now()); err != nil {
			c.log.Debug("utmp logout record not written", "err", err)
		}
	}
}

// launch starts the command of spec and makes it the connection's
// session, giving the slot back when it cannot.
func (c *serverConn) launch(req protocol.Exec, spec session.Spec, slot string, aud *sessionAudit) (*execSession, error) {
	start := time.Now()
	p, err := session.Start(spec)
	if err != nil {
		c.s.running.release(slot)
		aud.end(audit.Record{Outcome: "failed", ExitCode: audit.Code(outcome.ExitCannotStart), Reason: err.Error()}, c)
		c.log.Info("exec failed to start", "err", err)
		return nil, c.pc.Send(protocol.Exit{Code: outcome.ExitCannotStart, Error: err.Error(),
			DurationMS: time.Since(start).Milliseconds()})
	}
	c.recordLogin(p)
	ctx, cancel := context.WithCancelCause(context.Background())
	s := &execSession{c: c, p: p, req: req, stdin: newStdinQueue(), ctx: ctx, cancel: cancel,
		finished: make(chan struct{}), start: start, slot: slot, audit: aud}
	if !c.activate(s) { // aborted while the process started
		c.recordLogout(p)
		p.Close()
		c.s.running.release(slot)
		aud.end(audit.Record{Outcome: "connection_lost", Reason: errAborted.Error()}, c)
		return nil, errAborted
	}
	return s, nil
}

// activate makes s the connection's session unless the connection was
// closed meanwhile (Shutdown or abort), which it reports as false.
func (c *serverConn) activate(s *execSession) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.active = s
	return true
}

// specFor maps an exec request to a session spec.
func specFor(req protocol.Exec) session.Spec {
	spec := session.Spec{Argv: req.Argv, Command: req.Command, Dir: req.Cwd}
	keys := make([]string, 0, len(req.Env))
	for k := range req.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		spec.Env = append(spec.Env, k+"="+req.Env[k])
	}
	if req.PTY {
		spec.PTY = &session.PTYSpec{Term: req.Term, Rows: uint16(req.Rows), Cols: uint16(req.Cols)}
	}
	spec.Login = req.Command == "" && len(req.Argv) == 0
	return spec
}

func (s *execSession) run() {
	defer close(s.finished)
	defer s.c.s.running.release(s.slot)
	defer s.cancel(nil)
	var pumps, writer sync.WaitGroup
	pumps.Add(2)
	if s.link != nil {
		defer s.c.s.wg.Done()
		stop := context.AfterFunc(s.ctx, func() {
			for _, o := range s.link.outs {
				o.stop()
			}
		})
		defer stop()
		go s.pumpResumable(s.p.Stdout(), s.link.outs[0], &pumps)
		go s.pumpResumable(s.p.Stderr(), s.link.outs[1], &pumps)
	} else {
		go s.pump(s.p.Stdout(), protocol.TypeStdout, &pumps)
		go s.pump(s.p.Stderr(), protocol.TypeStderr, &pumps)
	}
	writer.Add(1)
	go s.writeStdin(&writer)

	timedOut := s.waitMain()
	status := s.p.Wait()
	s.p.KillTree(s.c.s.cfg.KillGrace) // whatever the command left behind: no orphans
	pumps.Wait()                      // the tree is gone, so the pipes reach EOF
	s.stdin.stop()
	s.p.Close()
	writer.Wait()

	exit := exitFor(status, timedOut, time.Since(s.start))
	s.c.recordLogout(s.p)
	cause := context.Cause(s.ctx)
	if s.link != nil {
		s.endResumable(exit, status, timedOut, cause)
		return
	}
	s.c.clearActive(s)
	s.audit.end(exitRecord(exit, cause), s.c)
	s.c.log.Info("session ended", "id", s.p.ID(), "status", status.String(), "timed_out", timedOut,
		"cause", cause, "duration", time.Since(s.start))
	if cause == nil {
		_ = s.c.pc.Send(exit)
	}
	s.c.exitSent()
}

// waitMain waits for the main process, the timeout or a cancellation, and
// kills the tree in the latter two cases. It reports whether the timeout fired.
func (s *execSession) waitMain() (timedOut bool) {
	var timeout <-chan time.Time
	if s.req.TimeoutMS > 0 {
		t := time.NewTimer(time.Duration(s.req.TimeoutMS) * time.Millisecond)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-s.p.Done():
		return false
	case <-timeout:
		s.p.KillTree(s.c.s.cfg.KillGrace)
		return true
	case <-s.ctx.Done():
		s.p.KillTree(s.c.s.cfg.KillGrace)
		return false
	}
}

// pump streams one output pipe to the client as it is produced. On a send
// failure it cancels the session (the client is gone) and stops reading.
func (s *execSession) pump(r io.Reader, stream string, wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]byte, smallReadSize)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			s.audit.output(stream, buf[:n])
			if serr := s.c.pc.Send(protocol.Data{Stream: stream, Body: buf[:n]}); serr != nil {
				s.cancel(errClientGone)
				return
			}
			if n == len(buf) && len(buf) < bulkReadSize {
				buf = make([]byte, bulkReadSize)
			}
		}
		if err != nil {
			return
		}
	}
}

// stdinAckBatch is how many written stdin bytes may wait for their
// acknowledgement while more input is queued: a tool that writes in small
// pieces (rsync, git) would otherwise cost a frame and a write system call
// per piece in each direction. Far below the window, so the client never
// waits on it; whenever the queue runs empty everything written is
// acknowledged at once.
const stdinAckBatch = 256 << 10

// writeStdin copies queued stdin to the process and acknowledges what it
// wrote so the client may send more (PROTOCOL.md §4.3): at once when
// nothing more is queued, else in batches of stdinAckBatch. If the
// process stops reading its stdin, later input is discarded but still
// acknowledged.
func (s *execSession) writeStdin(wg *sync.WaitGroup) {
	defer wg.Done()
	w := s.p.Stdin()
	broken := false
	unacked := 0
	for {
		b, state := s.stdin.pop()
		switch state {
		case queueStopped:
			return
		case queueEOF:
			if !broken {
				w.Close()
			}
			return
		}
		if !broken {
			if _, err := w.Write(b); err != nil {
				broken = true
			}
		}
		putChunk(b)
		s.stdin.release(len(b))
		unacked += len(b)
		if unacked < stdinAckBatch && s.stdin.queued() {
			continue
		}
		if s.link != nil {
			s.ackStdin(unacked)
			unacked = 0
			continue
		}
		if err := s.c.pc.Send(protocol.StdinAck{Count: int64(unacked)}); err != nil {
			s.cancel(errClientGone)
			return
		}
		unacked = 0
	}
}

func (s *execSession) signal(name string) error {
	sig, ok := signalByName(name)
	if !ok {
		s.c.log.Info("ignoring unknown signal", "signal", name)
		return nil
	}
	if err := s.p.Signal(sig); err != nil && !errors.Is(err, session.ErrExited) {
		s.c.log.Info("signal failed", "signal", name, "err", err)
	}
	return nil
}

func (s *execSession) resize(rows, cols int) {
	if err := s.p.Resize(uint16(rows), uint16(cols)); err != nil && !errors.Is(err, session.ErrNoPTY) {
		s.c.log.Info("resize failed", "err", err)
	}
}

// clearActive gives back the claim of s's exec, so that the next request
// may start before s has sent its exit (the client may send it as soon as
// it sees the exit); exitSent then marks the connection idle for Shutdown.
func (c *serverConn) clearActive(s *execSession) {
	c.mu.Lock()
	if c.active == s {
		c.active = nil
		c.req = noRequest
		c.exiting++
	}
	c.mu.Unlock()
}

func (c *serverConn) exitSent() {
	c.mu.Lock()
	c.exiting--
	c.mu.Unlock()
}

// exitFor builds the exit message (PROTOCOL.md §4.4).
func exitFor(st session.Status, timedOut bool, d time.Duration) protocol.Exit {
	e := protocol.Exit{Code: st.Code, DurationMS: d.Milliseconds()}
	switch {
	case st.Signal != 0:
		e.SignalNumber = int(st.Signal)
		e.Signal = signalName(st.Signal)
		e.Code = outcome.SignalStatus(int(st.Signal))
	case st.Err != nil:
		e.Code = outcome.ExitFailure
		e.Error = st.Err.Error()
	}
	if timedOut {
		e.TimedOut = true
		e.Code = outcome.ExitTimedOut
	}
	return e
}
