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

// A resumable run (PROTOCOL.md §9.5): the client keeps the stdin it sent
// until the server acknowledges it, counts every output byte it wrote,
// acknowledges output as it goes, and when the connection drops it
// connects again (fresh TLS, the same key) and presents the session's
// token with its counts; the server replays the output from there and
// says how much stdin it holds, and the client sends the rest again.

// Bounds of the reconnection: the first retry comes at once after a short
// pause, later ones back off so a host that is down is not hammered, and
// never wait longer than a second or two past its return.
const (
	redialFirst = 50 * time.Millisecond
	redialMax   = 2 * time.Second
	// abortWrite bounds the abort sent when the user gives a resumable
	// run up, so a dead connection cannot hold the exit.
	abortWrite = time.Second
	// minOutputAck is the least output acknowledged at once, so acks
	// cost little however small the server's buffer.
	minOutputAck = 64 << 10
)

// errLocal marks a failure of the local side (stdout closed), which no
// reconnection can mend.
var errLocal = errors.New("local output failed")

// stdinChunkAt is stdin sent and not yet acknowledged, from offset off.
type stdinChunkAt struct {
	off int64
	b   []byte
}

// rrun is the state of one resumable run across its connections.
type rrun struct {
	smu sync.Mutex // serializes stdin sends with their resending at a resume

	mu       sync.Mutex // guards everything below
	cond     *sync.Cond
	c        *Conn
	live     bool // c may be sent on
	over     bool
	token    string
	plain    bool // the server cannot resume: no token will come
	window   time.Duration
	ackEvery int64
	sent     int64 // stdin bytes sent (or to be sent again) in all
	acked    int64
	eof      bool // stdin_eof sent
	retained []stdinChunkAt
	recv     [2]int64
	ackedOut [2]int64
	signals  []string // sent while no connection was up
}

func (c *Conn) runResumable(ctx context.Context, req protocol.Exec, sio IO) (Result, error) {
	req.Resume = true
	r := &rrun{c: c, live: true}
	r.cond = sync.NewCond(&r.mu)
	if err := c.pc.Send(req); err != nil {
		return Result{}, c.sendError("sending exec", err)
	}
	stop := context.AfterFunc(ctx, func() { r.abort() })
	defer stop()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.control(sio, done) }()
	if sio.Stdin == nil {
		r.sendEOF()
	} else {
		go r.copyStdin(sio.Stdin)
	}
	res, err := r.loop(ctx, sio)
	r.mu.Lock()
	r.over = true
	r.cond.Broadcast()
	cur := r.c
	r.mu.Unlock()
	close(done)
	wg.Wait()
	cur.setReadDeadline(time.Time{})
	if cur != c {
		cur.Close()
	}
	if err != nil && ctx.Err() != nil {
		err = newError(outcome.ConnectionLost, c.target.String(), context.Cause(ctx))
	}
	return res, err
}

// loop receives on the current connection until exit, reconnecting
// while the session can be resumed.
func (r *rrun) loop(ctx context.Context, sio IO) (Result, error) {
	for {
		res, err := r.receive(sio)
		var remote *protocol.RemoteError
		if err == nil || ctx.Err() != nil || errors.Is(err, errLocal) || OutcomeOf(err) != outcome.ConnectionLost || errors.As(err, &remote) {
			return res, err
		}
		r.mu.Lock()
		r.live = false
		old, token := r.c, r.token
		r.mu.Unlock()
		old.pc.Close() // unblocks senders stuck on it
		if token == "" {
			return res, err // the server never made it resumable
		}
		if rerr := r.reconnect(ctx); rerr != nil {
			return Result{}, newError(outcome.ConnectionLost, old.target.String(),
				fmt.Errorf("%v; resuming failed: %w", err, rerr))
		}
	}
}

// receive handles the current connection's messages until exit.
func (r *rrun) receive(sio IO) (Result, error) {
	r.mu.Lock()
	c := r.c
	r.mu.Unlock()
	silence := keepaliveMisses * c.keepaliveInterval()
	if err := c.awaitHello(); err != nil {
		return Result{}, err
	}
	if !c.Server.HasFeature(protocol.FeatureResume) {
		r.mu.Lock()
		r.plain = true // no token will come: stdin goes out at once
		r.cond.Broadcast()
		r.mu.Unlock()
	}
	for {
		m, err := c.recvFor("connection lost while the command ran", silence)
		if err != nil {
			return Result{}, err
		}
		switch m := m.(type) {
		case protocol.ResumeToken:
			r.mu.Lock()
			r.token, r.window = m.Token, time.Duration(m.WindowMS)*time.Millisecond
			r.ackEvery = max(m.Buffer/4, minOutputAck)
			r.cond.Broadcast() // stdin may go out now
			r.mu.Unlock()
		case protocol.Data:
			if err := r.output(c, m, sio); err != nil {
				return Result{}, err
			}
		case protocol.StdinAck:
			r.ack(m.Count)
		case protocol.Exit:
			r.ackExit(c)
			return Result{Exit: m}, nil
		case protocol.Error:
			return Result{}, c.remoteError(m)
		default:
			return Result{}, c.unexpected(m)
		}
	}
}

// ackExit acknowledges the exit and all output, so the server forgets
// the session at once rather than holding it for a resume until the
// window passes. Best effort: a server that never gets it only holds
// the ended session longer.
func (r *rrun) ackExit(c *Conn) {
	r.mu.Lock()
	ack := protocol.OutputAck{Stdout: r.recv[0], Stderr: r.recv[1], Exit: true}
	plain := r.token == ""
	r.mu.Unlock()
	if !plain {
		_ = c.pc.Send(ack)
	}
}

// output writes a data frame locally, counts it, and acknowledges output
// every ackEvery bytes.
func (r *rrun) output(c *Conn, m protocol.Data, sio IO) error {
	i, w := 0, sio.Stdout
	switch m.Stream {
	case protocol.TypeStderr:
		i, w = 1, sio.Stderr
	case protocol.TypeStdout:
	default:
		return newError(outcome.ProtocolError, c.target.String(), fmt.Errorf("unexpected %s from server", m.Stream))
	}
	if _, err := w.Write(m.Body); err != nil {
		return newError(outcome.ConnectionLost, c.target.String(), fmt.Errorf("%w: writing local %s: %w", errLocal, m.Stream, err))
	}
	r.mu.Lock()
	r.recv[i] += int64(len(m.Body))
	var ack *protocol.OutputAck
	if r.token != "" && r.recv[i]-r.ackedOut[i] >= r.ackEvery {
		r.ackedOut = r.recv
		ack = &protocol.OutputAck{Stdout: r.recv[0], Stderr: r.recv[1]}
	}
	r.mu.Unlock()
	if ack != nil {
		_ = c.pc.Send(*ack) // a failure shows in the receive loop
	}
	return nil
}

// ack takes n bytes of stdin as written by the server: they are dropped
// from what a resume would send again.
func (r *rrun) ack(n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acked = min(r.acked+n, r.sent)
	r.dropAckedLocked()
	r.cond.Broadcast()
}

func (r *rrun) dropAckedLocked() {
	for len(r.retained) > 0 {
		ch := r.retained[0]
		end := ch.off + int64(len(ch.b))
		switch {
		case end <= r.acked:
			r.retained = r.retained[1:]
		case ch.off < r.acked:
			r.retained[0] = stdinChunkAt{off: r.acked, b: ch.b[r.acked-ch.off:]}
			return
		default:
			return
		}
	}
}

// copyStdin forwards local stdin within the window, keeping each chunk
// until it is acknowledged, then stdin_eof.
func (r *rrun) copyStdin(in io.Reader) {
	buf := make([]byte, stdinChunk)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			r.mu.Lock()
			// No stdin goes out before the resume token is in: a connection
			// cut before it arrived could not be resumed, and stdin sent on
			// it would be lost. The command reads nothing before it started,
			// which is when the token is sent, so this costs no throughput.
			for !r.over && ((r.token == "" && !r.plain) || r.sent-r.acked+int64(n) > protocol.StdinWindow) {
				r.cond.Wait()
			}
			if r.over {
				r.mu.Unlock()
				return
			}
			r.mu.Unlock()
			b := append([]byte(nil), buf[:n]...)
			r.smu.Lock()
			r.mu.Lock()
			r.retained = append(r.retained, stdinChunkAt{off: r.sent, b: b})
			r.sent += int64(n)
			c, live := r.c, r.live
			r.mu.Unlock()
			if live {
				_ = c.pc.Send(protocol.Data{Stream: protocol.TypeStdin, Body: b})
			}
			r.smu.Unlock()
		}
		if err != nil {
			r.sendEOF()
			return
		}
	}
}

func (r *rrun) sendEOF() {
	r.smu.Lock()
	defer r.smu.Unlock()
	r.mu.Lock()
	r.eof = true
	c, live, over := r.c, r.live, r.over
	r.mu.Unlock()
	if live && !over {
		_ = c.pc.Send(protocol.StdinEOF{})
	}
}

// control forwards signals and sizes and pings, on whatever connection
// is up; signals given while none is are sent after the resume.
func (r *rrun) control(sio IO, done <-chan struct{}) {
	r.mu.Lock()
	t := time.NewTicker(r.c.keepaliveInterval())
	r.mu.Unlock()
	defer t.Stop()
	for {
		var m protocol.Message
		select {
		case <-done:
			return
		case <-t.C:
			m = protocol.Ping{}
		case sig := <-sio.Signals:
			m = protocol.Signal{Signal: sig}
		case sz := <-sio.Resizes:
			m = sz
		}
		r.mu.Lock()
		c, live := r.c, r.live
		if sig, ok := m.(protocol.Signal); ok && !live {
			r.signals = append(r.signals, sig.Signal)
		}
		r.mu.Unlock()
		if live {
			_ = c.pc.Send(m)
		}
	}
}

// abort gives the run up (the context ended): the server is asked to end
// the session now rather than wait for a resume, then the connection is
// closed.
func (r *rrun) abort() {
	r.mu.Lock()
	c, live := r.c, r.live
	r.over = true
	r.cond.Broadcast()
	r.mu.Unlock()
	if live {
		_ = c.nc.SetWriteDeadline(time.Now().Add(abortWrite))
		_ = c.pc.Send(protocol.Abort{})
	}
	c.pc.Close()
}

// reconnect dials again until the session is resumed, the server says it
// has none, or the window the server announced has passed.
func (r *rrun) reconnect(ctx context.Context) error {
	r.mu.Lock()
	old, window := r.c, r.window
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	wait := redialFirst
	var last error
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			if last == nil {
				last = ctx.Err()
			}
			return fmt.Errorf("no resume within the server's window of %v: %w", window, last)
		case <-time.After(wait):
		}
		wait = min(wait*2, redialMax)
		nc, err := old.redial(ctx)
		if err != nil {
			last = err
			switch OutcomeOf(err) {
			case outcome.AuthFailed, outcome.HostKeyMismatch, outcome.HostKeyUnknown:
				return err
			}
			continue
		}
		fatal, err := r.resume(ctx, nc)
		if err == nil {
			old.Close()
			return nil
		}
		nc.Close()
		last = err
		if fatal {
			return err
		}
	}
}

// resume presents the token on nc and, when the server has the session,
// makes nc the run's connection: stdin it lacks is sent again, signals
// given meanwhile go out. fatal reports that retrying cannot help.
func (r *rrun) resume(ctx context.Context, nc *Conn) (fatal bool, err error) {
	r.smu.Lock()
	defer r.smu.Unlock()
	r.mu.Lock()
	req := protocol.Resume{Token: r.token, Stdout: r.recv[0], Stderr: r.recv[1]}
	r.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { nc.pc.Close() })
	defer stop()
	if err := nc.pc.Send(req); err != nil {
		return false, nc.sendError("sending resume", err)
	}
	m, err := nc.recvFor("waiting for the resume", keepaliveMisses*nc.keepaliveInterval())
	if err != nil {
		return false, err
	}
	var got protocol.Resumed
	switch m := m.(type) {
	case protocol.Resumed:
		got = m
	case protocol.Error:
		return !protocol.Fatal(m.Code), nc.remoteError(m)
	default:
		return true, nc.unexpected(m)
	}
	r.mu.Lock()
	if got.Stdin > r.sent || got.StdinAcked < r.acked {
		r.mu.Unlock()
		return true, newError(outcome.ProtocolError, nc.target.String(),
			fmt.Errorf("resumed: the server claims %d stdin bytes (%d acknowledged); %d were sent, %d acknowledged", got.Stdin, got.StdinAcked, r.sent, r.acked))
	}
	r.token, r.c, r.live = got.Token, nc, true
	r.acked = got.StdinAcked
	r.dropAckedLocked()
	r.cond.Broadcast()
	var resend [][]byte
	for _, ch := range r.retained {
		end := ch.off + int64(len(ch.b))
		if end <= got.Stdin {
			continue
		}
		b := ch.b
		if ch.off < got.Stdin {
			b = b[got.Stdin-ch.off:]
		}
		resend = append(resend, b)
	}
	eof, sigs := r.eof && !got.StdinEOF, r.signals
	r.signals = nil
	r.ackedOut = r.recv
	r.mu.Unlock()
	for _, b := range resend {
		if err := nc.pc.Send(protocol.Data{Stream: protocol.TypeStdin, Body: b}); err != nil {
			return false, nil // the receive loop finds the new connection broken and resumes again
		}
	}
	if eof {
		_ = nc.pc.Send(protocol.StdinEOF{})
	}
	for _, s := range sigs {
		_ = nc.pc.Send(protocol.Signal{Signal: s})
	}
	return false, nil
}
