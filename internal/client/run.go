package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// stdinChunk is how much local stdin one read takes: large enough that bulk
// input costs few frames, far below the stdin window so acknowledgements
// keep the pipe full.
const stdinChunk = 256 << 10

// IO is where a run's streams come from and go to. A nil Stdin means no
// input (the remote stdin sees EOF at once, like -n). Stdout and Stderr
// must not be nil; each is written from one goroutine, in order.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Signals carries signal names ("INT", "TERM") to forward to the
	// remote process group while the command runs.
	Signals <-chan string
	// Resizes carries new terminal sizes for a PTY session.
	Resizes <-chan protocol.Resize
}

// Result is how a command ended: the server's exit message.
type Result struct {
	Exit protocol.Exit
}

// Outcome classifies the exit: Exited, Signaled or TimedOut.
func (r Result) Outcome() outcome.Outcome {
	switch {
	case r.Exit.TimedOut:
		return outcome.TimedOut
	case r.Exit.Signal != "":
		return outcome.Signaled
	}
	return outcome.Exited
}

// Run executes req on the connection and streams its output to io as it
// arrives. It returns when the server's exit message arrives, or with an
// *Error (ConnectionLost, ProtocolError, Denied) when it cannot. When ctx
// is cancelled the connection is closed, which makes the server kill the
// remote process tree.
//
// A server that sends nothing at all, not even a pong to the pings Run
// sends, for 45 s is taken for dead: Run closes the connection and fails
// with ConnectionLost (the command's outcome is unknown).
//
// Between requests the Conn reads nothing: a ping the server sends then is
// answered when the next request reads it. A server may therefore close a
// Conn left idle longer than its keepalive allows (45 s for rexec's
// defaults); the next request then fails with ConnectionLost.
//
// A goroutine reading io.Stdin may outlive Run while that Read blocks; it
// sends nothing after Run returns and ends when the Read does.
func (c *Conn) Run(ctx context.Context, req protocol.Exec, sio IO) (Result, error) {
	if c.cfg.Resume && !req.Detach && !req.PTY {
		return c.runResumable(ctx, req, sio)
	}
	if err := c.pc.Send(req); err != nil {
		return Result{}, c.sendError("sending exec", err)
	}
	r := newRun(c)
	stop := context.AfterFunc(ctx, func() { c.pc.Close() })
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.control(sio) }()
	if sio.Stdin == nil {
		r.sendEOF()
	} else {
		go r.copyStdin(sio.Stdin)
	}
	res, err := r.receive(sio)
	if errors.Is(err, errServerSilent) {
		c.pc.Close() // unblocks a sender stuck on the dead connection
	}
	c.setReadDeadline(time.Time{})
	r.finish()
	wg.Wait()
	if err != nil && ctx.Err() != nil {
		err = newError(outcome.ConnectionLost, c.target.String(), context.Cause(ctx))
	}
	return res, err
}

// run is the client side of one session: the receive loop owns it; the
// stdin copier and the control loop only send.
type run struct {
	c    *Conn
	done chan struct{} // closed when the session is over

	mu       sync.Mutex // mu guards unacked and over
	cond     *sync.Cond
	unacked  int64
	over     bool
	finished sync.Once
}

func newRun(c *Conn) *run {
	r := &run{c: c, done: make(chan struct{})}
	r.cond = sync.NewCond(&r.mu)
	return r
}

// finish ends the session for the helpers: blocked senders wake and stop.
func (r *run) finish() {
	r.finished.Do(func() {
		r.mu.Lock()
		r.over = true
		r.cond.Broadcast()
		r.mu.Unlock()
		close(r.done)
	})
}

// receive handles server messages until exit.
func (r *run) receive(sio IO) (Result, error) {
	silence := keepaliveMisses * r.c.keepaliveInterval()
	for {
		m, err := r.c.recvFor("connection lost while the command ran", silence)
		if err != nil {
			return Result{}, err
		}
		switch m := m.(type) {
		case protocol.Data:
			if err := r.output(m, sio); err != nil {
				return Result{}, err
			}
		case protocol.StdinAck:
			r.ack(m.Count)
		case protocol.Exit:
			return Result{Exit: m}, nil
		case protocol.Error:
			return Result{}, r.c.remoteError(m)
		default:
			return Result{}, r.c.unexpected(m)
		}
	}
}

// output writes a data frame to the matching local stream. A local write
// failure (stdout closed) ends the run like a lost connection would, so
// that the remote command does not run on unseen.
func (r *run) output(m protocol.Data, sio IO) error {
	w := sio.Stdout
	switch m.Stream {
	case protocol.TypeStderr:
		w = sio.Stderr
	case protocol.TypeStdout:
	default:
		return newError(outcome.ProtocolError, r.c.target.String(), fmt.Errorf("unexpected %s from server", m.Stream))
	}
	if _, err := w.Write(m.Body); err != nil {
		return newError(outcome.ConnectionLost, r.c.target.String(), fmt.Errorf("writing local %s: %w", m.Stream, err))
	}
	return nil
}

func (r *run) ack(n int64) {
	r.mu.Lock()
	r.unacked -= n
	if r.unacked < 0 {
		r.unacked = 0
	}
	r.cond.Broadcast()
	r.mu.Unlock()
}

// reserve waits until n more bytes fit in the stdin window; false when the
// session is over.
func (r *run) reserve(n int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for !r.over && r.unacked+n > protocol.StdinWindow {
		r.cond.Wait()
	}
	if r.over {
		return false
	}
	r.unacked += n
	return true
}

// copyStdin forwards local stdin within the window, then stdin_eof.
func (r *run) copyStdin(in io.Reader) {
	buf := make([]byte, stdinChunk)
	for {
		n, err := in.Read(buf)
		if n > 0 && err == nil {
			n, err = readReady(in, buf, n)
		}
		if n > 0 {
			if !r.reserve(int64(n)) {
				return
			}
			if r.c.pc.Send(protocol.Data{Stream: protocol.TypeStdin, Body: buf[:n]}) != nil {
				return
			}
		}
		if err != nil { // EOF, or a local input that failed: either way no more input
			r.sendEOF()
			return
		}
	}
}

func (r *run) sendEOF() {
	select {
	case <-r.done:
	default:
		_ = r.c.pc.Send(protocol.StdinEOF{})
	}
}

// control forwards signals and window sizes, and sends the keepalive's
// pings, until the session is over.
func (r *run) control(sio IO) {
	t := time.NewTicker(r.c.keepaliveInterval())
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
			_ = r.c.pc.Send(protocol.Ping{})
		case sig := <-sio.Signals:
			_ = r.c.pc.Send(protocol.Signal{Signal: sig})
		case sz := <-sio.Resizes:
			_ = r.c.pc.Send(sz)
		}
	}
}
