package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// Why a request is turned away (refuse): the connection is taken by
// another request (PROTOCOL.md §7.4, §8.1), or a request arrived inside a
// file's stream.
var (
	errBusy         = errors.New("request while a session is running")
	errTransferBusy = errors.New("request while a file transfer is in progress")
)

// requestKind is what holds a connection's one request slot (claim).
type requestKind uint8

const (
	noRequest requestKind = iota
	// execRequest holds it from the exec's acceptance until its session
	// leaves the connection (clearActive), just before its exit is sent.
	execRequest
	// fileRequest holds it while the reader serves a stat, put or get.
	fileRequest
	// jobRequest holds it while a jobs, kill or attach is served (an
	// attach until its exit is sent or the connection ends).
	jobRequest
)

// loop reads requests until the connection ends.
func (c *serverConn) loop() error {
	for {
		m, err := c.recv()
		if err != nil {
			return c.protocolFailure("reading request", err)
		}
		if err := c.dispatch(m); err != nil {
			return err
		}
	}
}

// dispatch handles one message read between requests or during an exec
// session; an error ends the connection.
func (c *serverConn) dispatch(m protocol.Message) error {
	if ping, err := answerPing(m, c.pc.Send); ping {
		return err
	}
	if isRequest(m) {
		if err := c.reauthorize(m); err != nil {
			return err
		}
	}
	switch m := m.(type) {
	case protocol.Exec:
		if m.Detach {
			return c.startJob(m)
		}
		return c.startExec(m)
	case protocol.Jobs:
		return c.listJobs()
	case protocol.Attach:
		return c.attachJob(m)
	case protocol.Kill:
		return c.killJob(m)
	case protocol.Data:
		if m.Stream != protocol.TypeStdin {
			return c.unexpected(m)
		}
		return c.withSession(func(s *execSession) error {
			s.audit.input(len(m.Body))
			if s.link != nil {
				return s.pushStdin(c, m.Body)
			}
			return s.stdin.push(m.Body)
		})
	case protocol.StdinEOF:
		return c.withSession(func(s *execSession) error {
			if s.link != nil {
				s.stdinEOF(c)
			} else {
				s.stdin.closeInput()
			}
			return nil
		})
	case protocol.OutputAck:
		if m.Exit {
			c.ackExit()
			return nil
		}
		return c.withSession(func(s *execSession) error {
			if s.link == nil {
				return errors.New("output_ack in a session without resume")
			}
			if err := s.link.outs[0].ack(m.Stdout); err != nil {
				return err
			}
			return s.link.outs[1].ack(m.Stderr)
		})
	case protocol.Abort:
		return c.withSession(func(s *execSession) error {
			if s.link != nil {
				// The token dies with the abort, not when the tree's end
				// is noticed: a resume arriving in between must not
				// take the session back.
				c.s.dropResumable(s)
			}
			s.cancel(errClientGone)
			return nil
		})
	case protocol.Resume:
		return c.resumeSession(m)
	case protocol.Signal:
		return c.withSession(func(s *execSession) error { return s.signal(m.Signal) })
	case protocol.Resize:
		return c.withSession(func(s *execSession) error { s.resize(m.Rows, m.Cols); return nil })
	}
	if isFileRequest(m) {
		return c.serveTransfer(m)
	}
	return c.unexpected(m)
}

// isRequest reports whether m starts a request (exec, stat, put, get):
// what is authorized again, what takes the claim, and what a file's
// stream must not contain.
func isRequest(m protocol.Message) bool {
	switch m.(type) {
	case protocol.Exec, protocol.Jobs, protocol.Attach, protocol.Kill, protocol.Resume:
		return true
	}
	return isFileRequest(m)
}

// isFileRequest reports whether m starts a file request (PROTOCOL.md §8):
// the one list of them, served by serveTransfer and, for another account,
// by the per-account helper.
func isFileRequest(m protocol.Message) bool {
	switch m.(type) {
	case protocol.Stat, protocol.Put, protocol.Get, protocol.PutTree, protocol.List:
		return true
	}
	return false
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

// claim takes the connection for a request of kind, one at a time, or
// turns the request away (refuse): busy while another request runs,
// unavailable while the server or the connection is closing. Every
// request takes it first and gives it back with release; an exec
// session's end gives it back itself (clearActive).
func (c *serverConn) claim(kind requestKind) error {
	draining := c.s.isClosing() // before c.mu: closeIdle locks s.mu, then c.mu
	c.mu.Lock()
	busy, closed := c.req != noRequest, draining || c.closed
	if !busy && !closed {
		c.req = kind
	}
	c.mu.Unlock()
	switch {
	case busy:
		return c.refuse(errBusy)
	case closed:
		return c.refuse(errAborted)
	}
	// A new request means the client is past the last exit sent here:
	// it needs no resume of that session any more.
	c.ackExit()
	c.lastRequest.Store(time.Now().UnixNano())
	return nil
}

// release gives back the claim of a file request, or of an exec whose
// session did not start; a file request hands the deadlines back to the
// keepalive.
func (c *serverConn) release() {
	c.lastRequest.Store(time.Now().UnixNano())
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.req == fileRequest {
		c.endStreamDeadlinesLocked()
	}
	c.req = noRequest
}

// busyLocked reports whether a request runs or a session is still
// sending its exit: the connection is not idle. c.mu is held.
func (c *serverConn) busyLocked() bool {
	return c.req != noRequest || c.exiting > 0
}

// refuse tells the peer why its request is turned away, and returns err
// (errBusy, errTransferBusy or errAborted), which ends the connection.
func (c *serverConn) refuse(err error) error {
	switch {
	case errors.Is(err, errTransferBusy):
		c.sendError(protocol.CodeBusy, "a request arrived while a file transfer was in progress")
	case errors.Is(err, errBusy):
		c.sendError(protocol.CodeBusy, "a session is already running on this connection")
	default:
		c.sendError(protocol.CodeUnavailable, "the server is shutting down")
	}
	return err
}
