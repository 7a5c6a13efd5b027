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

// Detached jobs (PROTOCOL.md §9): Detach starts one, Jobs lists them,
// Attach reads one's output and waits for its end, Kill signals it.

// ErrNoJobs is a server that keeps no detached jobs (its hello does not
// list the jobs feature): an older rexec, or one started without a store.
var ErrNoJobs = errors.New("the server does not keep detached jobs")

// needJobs waits for the server's hello and checks it lists jobs: a
// detach must never reach a server that would run it attached.
func (c *Conn) needJobs() error {
	if err := c.Ready(); err != nil {
		return err
	}
	if !c.Server.HasFeature(protocol.FeatureJobs) {
		return newError(outcome.Denied, c.target.String(), ErrNoJobs)
	}
	return nil
}

// withCtx closes the connection when ctx ends while f runs, and reports
// ctx's cause instead of the error that caused.
func (c *Conn) withCtx(ctx context.Context, f func() error) error {
	stop := context.AfterFunc(ctx, func() { c.pc.Close() })
	defer stop()
	err := f()
	if err != nil && ctx.Err() != nil {
		return newError(outcome.ConnectionLost, c.target.String(), context.Cause(ctx))
	}
	return err
}

// Detach starts req as a detached job and returns its id. A command that
// cannot start comes back as the server's exit (code 127) in a Result
// with an empty id.
func (c *Conn) Detach(ctx context.Context, req protocol.Exec) (string, Result, error) {
	if err := c.needJobs(); err != nil {
		return "", Result{}, err
	}
	req.Detach, req.Resume = true, false
	var id string
	var res Result
	err := c.withCtx(ctx, func() error {
		if err := c.pc.Send(req); err != nil {
			return c.sendError("sending exec", err)
		}
		m, err := c.recvFor("waiting for the job to start", 0)
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case protocol.JobStarted:
			id = m.ID
			return nil
		case protocol.Exit:
			res.Exit = m
			return nil
		case protocol.Error:
			return c.remoteError(m)
		}
		return c.unexpected(m)
	})
	return id, res, err
}

// Jobs lists the jobs of this key on the server, oldest first.
func (c *Conn) Jobs(ctx context.Context) ([]protocol.JobInfo, error) {
	if err := c.needJobs(); err != nil {
		return nil, err
	}
	var list []protocol.JobInfo
	err := c.withCtx(ctx, func() error {
		if err := c.pc.Send(protocol.Jobs{}); err != nil {
			return c.sendError("sending jobs", err)
		}
		for {
			m, err := c.recvFor("listing jobs", 0)
			if err != nil {
				return err
			}
			switch m := m.(type) {
			case protocol.JobInfo:
				list = append(list, m)
			case protocol.JobsEnd:
				return nil
			case protocol.Error:
				return c.remoteError(m)
			default:
				return c.unexpected(m)
			}
		}
	})
	return list, err
}

// Kill sends signal (a name without SIG; "" is TERM) to every process of
// job id.
func (c *Conn) Kill(ctx context.Context, id, signal string) error {
	if err := c.needJobs(); err != nil {
		return err
	}
	return c.withCtx(ctx, func() error {
		if err := c.pc.Send(protocol.Kill{ID: id, Signal: signal}); err != nil {
			return c.sendError("sending kill", err)
		}
		m, err := c.recvFor("waiting for the kill", 0)
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case protocol.KillOK:
			return nil
		case protocol.Error:
			return c.remoteError(m)
		}
		return c.unexpected(m)
	})
}

// AttachIO is where an attach's output goes. Gap, when non-nil, hears of
// every range the job dropped over its cap before the bytes after it.
type AttachIO struct {
	Stdout, Stderr io.Writer
	Gap            func(protocol.Gap)
}

// Attach reads job req.ID's output from the asked offsets (or its tail),
// live while it runs, and returns its exit. Each stream's bytes arrive
// in order with nothing repeated; a dropped range is told through Gap,
// and the offsets Attach reached are checked against the gaps and bytes
// received. The server is pinged as during Run, so a vanished one is
// given up after the same silence.
func (c *Conn) Attach(ctx context.Context, req protocol.Attach, out AttachIO) (Result, error) {
	if err := c.needJobs(); err != nil {
		return Result{}, err
	}
	var res Result
	err := c.withCtx(ctx, func() error {
		if err := c.pc.Send(req); err != nil {
			return c.sendError("sending attach", err)
		}
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); c.pingUntil(done) }()
		defer func() { close(done); wg.Wait(); c.setReadDeadline(time.Time{}) }()
		var err error
		res, err = c.followAttach(out)
		if errors.Is(err, errServerSilent) {
			c.pc.Close()
		}
		return err
	})
	return res, err
}

// followAttach is Attach's receive loop.
func (c *Conn) followAttach(out AttachIO) (Result, error) {
	silence := keepaliveMisses * c.keepaliveInterval()
	var off [2]int64
	started := false
	for {
		m, err := c.recvFor("connection lost while attached", silence)
		if err != nil {
			return Result{}, err
		}
		switch m := m.(type) {
		case protocol.Attached:
			off, started = [2]int64{m.Stdout, m.Stderr}, true
		case protocol.Data:
			i, w := 0, out.Stdout
			if m.Stream == protocol.TypeStderr {
				i, w = 1, out.Stderr
			} else if m.Stream != protocol.TypeStdout {
				return Result{}, c.unexpected(m)
			}
			if !started {
				return Result{}, c.unexpected(m)
			}
			if _, err := w.Write(m.Body); err != nil {
				return Result{}, newError(outcome.ConnectionLost, c.target.String(), fmt.Errorf("writing local %s: %w", m.Stream, err))
			}
			off[i] += int64(len(m.Body))
		case protocol.Gap:
			i := 0
			if m.Stream == protocol.TypeStderr {
				i = 1
			}
			if !started || m.From != off[i] {
				return Result{}, newError(outcome.ProtocolError, c.target.String(),
					fmt.Errorf("gap [%d, %d) of %s does not start at offset %d", m.From, m.To, m.Stream, off[i]))
			}
			if out.Gap != nil {
				out.Gap(m)
			}
			off[i] = m.To
		case protocol.Exit:
			return Result{Exit: m}, nil
		case protocol.Error:
			return Result{}, c.remoteError(m)
		default:
			return Result{}, c.unexpected(m)
		}
	}
}

// pingUntil sends a ping every keepalive interval until done.
func (c *Conn) pingUntil(done <-chan struct{}) {
	t := time.NewTicker(c.keepaliveInterval())
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			_ = c.pc.Send(protocol.Ping{})
		}
	}
}
