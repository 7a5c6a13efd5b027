package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/jobs"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/session"
)

// Detached jobs (PROTOCOL.md §9, docs/SECURITY.md "Detached jobs"): an
// exec with detach runs as a job of the server rather than of the
// connection. Its output goes to its spool (package jobs), its end is
// recorded there, and any later connection of the same key (and account)
// may list it, attach to it from any offset, or signal it.

// Audit kinds of the job requests.
const (
	kindJob    = "job"
	kindJobs   = "jobs"
	kindAttach = "attach"
	kindKill   = "kill"
)

// attachReadSize is the most one read of a spool takes: a whole frame's
// body, so that a replay costs one read and one frame per MiB. Unlike
// a session's pipe (bulkReadSize), the spool is read as fast as the
// connection takes it, and the larger frames cost fewer CPU-seconds per
// GiB than 256 KiB ones (docs/BENCHMARKS.md, "Detached jobs").
const attachReadSize = protocol.MaxDataBody

// jobRun is a detached job's running process, for kill and shutdown.
type jobRun struct {
	job    *jobs.Job
	p      *session.Process
	cancel context.CancelCauseFunc
}

// errDaemonStopped is the cause of a job ended by the server's shutdown.
var errDaemonStopped = errors.New("the daemon stopped: the job was killed")

// owner is who the connection's jobs belong to.
func (c *serverConn) owner() jobs.Owner {
	return jobs.Owner{Key: auth.Fingerprint(c.key.Key), Account: c.acct.name}
}

// jobCommand is how a job's command is shown in its listing.
func jobCommand(req protocol.Exec) string {
	if req.Command != "" {
		return req.Command
	}
	return strings.Join(req.Argv, " ")
}

// startJob runs a detached exec: the same policy, slot and audit as an
// exec, then job_started, and the job runs on without the connection.
func (c *serverConn) startJob(req protocol.Exec) error {
	store := c.s.cfg.Jobs
	if store == nil {
		c.sendError(protocol.CodeDenied, "jobs: this server keeps no detached jobs")
		return nil
	}
	if err := c.claim(execRequest); err != nil {
		return err
	}
	defer c.release()
	kind := kindOf(req)
	req, denied := applyPolicy(&c.key.Options, req, c.s.cfg.AcceptEnv)
	if denied != "" {
		c.auditDenied(kind, req, denied)
		c.sendError(protocol.CodeDenied, denied)
		return nil
	}
	slot := auth.Fingerprint(c.key.Key)
	if reason, ok := c.s.running.acquire(slot); !ok {
		c.sendError(protocol.CodeUnavailable, reason)
		return errors.New(reason)
	}
	spec := specFor(req)
	spec.ID = session.NewID()
	if warning := c.asAccount(&spec); warning != "" {
		c.log.Info("detached job", "warning", warning)
	}
	job, err := store.Create(c.owner(), jobCommand(req), spec.ID)
	if err != nil {
		c.s.running.release(slot)
		c.sendError(protocol.CodeUnavailable, err.Error())
		return err
	}
	aud, err := c.beginAudit(spec.ID, kindJob, req)
	if err != nil {
		c.s.running.release(slot)
		_ = job.Finish(jobs.End{Outcome: "failed", Code: outcome.ExitFailure, Error: err.Error()})
		c.sendError(protocol.CodeUnavailable, err.Error())
		return err
	}
	aud.base.Job = job.ID()
	start := time.Now()
	p, err := session.Start(spec)
	if err != nil {
		c.s.running.release(slot)
		exit := protocol.Exit{Code: outcome.ExitCannotStart, Error: err.Error(), DurationMS: time.Since(start).Milliseconds()}
		_ = job.Finish(endOf(exit, nil))
		aud.end(audit.Record{Outcome: "failed", ExitCode: audit.Code(outcome.ExitCannotStart), Reason: err.Error()}, c)
		return c.pc.Send(exit)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	r := &jobRun{job: job, p: p, cancel: cancel}
	if !c.s.addJob(r) { // the server is closing
		cancel(errDaemonStopped)
	}
	c.log.Info("job started", "job", job.ID(), "id", p.ID(), "command", req.Command, "argv", req.Argv)
	go c.s.runJob(ctx, r, req, slot, aud, start)
	return c.pc.Send(protocol.JobStarted{ID: job.ID()})
}

// addJob registers a running job and counts it in the server's wait
// group, so that Shutdown waits for it as for a connection; false when
// the server is closing (the job is still counted and must be ended).
func (s *Server) addJob(r *jobRun) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wg.Add(1)
	if s.jobRuns == nil {
		s.jobRuns = map[string]*jobRun{}
	}
	s.jobRuns[r.job.ID()] = r
	return !s.closing
}

func (s *Server) jobRun(id string) *jobRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobRuns[id]
}

// cancelJobs ends every running job (the end of Shutdown's grace).
func (s *Server) cancelJobs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.jobRuns {
		r.cancel(errDaemonStopped)
	}
}

// runJob is a job's life: its output into the spool, the timeout, the
// tree's end, the recorded outcome.
func (s *Server) runJob(ctx context.Context, r *jobRun, req protocol.Exec, slot string, aud *sessionAudit, start time.Time) {
	defer s.wg.Done()
	defer s.running.release(slot)
	defer func() {
		s.mu.Lock()
		delete(s.jobRuns, r.job.ID())
		s.mu.Unlock()
	}()
	defer r.cancel(nil)
	r.p.Stdin().Close() // a job has no input
	var pumps sync.WaitGroup
	pumps.Add(2)
	go s.spool(r, aud, r.p.Stdout(), jobs.Stdout, &pumps)
	go s.spool(r, aud, r.p.Stderr(), jobs.Stderr, &pumps)
	timedOut := waitJob(ctx, r.p, req.TimeoutMS, s.cfg.KillGrace)
	status := r.p.Wait()
	r.p.KillTree(s.cfg.KillGrace)
	pumps.Wait()
	r.p.Close()
	exit := exitFor(status, timedOut, time.Since(start))
	cause := context.Cause(ctx)
	if err := r.job.Finish(endOf(exit, cause)); err != nil {
		s.log.Error("job outcome not recorded", "job", r.job.ID(), "err", err)
	}
	rec := exitRecord(exit, nil)
	if cause != nil {
		rec.Reason = cause.Error()
	}
	aud.end(rec, &serverConn{s: s, log: s.log})
	s.log.Info("job ended", "job", r.job.ID(), "status", status.String(), "timed_out", timedOut, "cause", cause)
}

// waitJob waits for the main process, the timeout or the server's end,
// killing the tree in the latter two cases; it reports a timeout.
func waitJob(ctx context.Context, p *session.Process, timeoutMS int64, grace time.Duration) bool {
	var timeout <-chan time.Time
	if timeoutMS > 0 {
		t := time.NewTimer(time.Duration(timeoutMS) * time.Millisecond)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-p.Done():
		return false
	case <-timeout:
		p.KillTree(grace)
		return true
	case <-ctx.Done():
		p.KillTree(grace)
		return false
	}
}

// spool copies one output pipe into the job's spool. A spool that cannot
// be written (disk full) loses the output, never the job: the pipe is
// still drained so the command does not block.
func (s *Server) spool(r *jobRun, aud *sessionAudit, rd io.Reader, stream int, wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]byte, smallReadSize)
	failed := false
	for {
		n, err := rd.Read(buf)
		if n > 0 {
			aud.output(streamType(stream), buf[:n])
			if !failed {
				if werr := r.job.Write(stream, buf[:n]); werr != nil {
					failed = true
					s.log.Error("job spool write failed; its output is lost from here", "job", r.job.ID(), "err", werr)
				} else {
					s.cfg.Metrics.Spooled(int64(n))
				}
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

func streamType(stream int) string {
	if stream == jobs.Stderr {
		return protocol.TypeStderr
	}
	return protocol.TypeStdout
}

// endOf is how a job's exit is recorded: the outcome words of docs/CLI.md
// §7 and the exit's fields.
func endOf(e protocol.Exit, cause error) jobs.End {
	end := jobs.End{Outcome: string(outcome.Exited), Code: e.Code, Signal: e.Signal, SignalN: e.SignalNumber,
		TimedOut: e.TimedOut, Error: e.Error}
	switch {
	case e.TimedOut:
		end.Outcome = string(outcome.TimedOut)
	case e.Signal != "":
		end.Outcome = string(outcome.Signaled)
	}
	if cause != nil {
		end.Error = cause.Error()
	}
	return end
}

// exitOf is the exit message an attach ends with.
func exitOf(in jobs.Info) protocol.Exit {
	e := in.Meta.End
	return protocol.Exit{Code: e.Code, Signal: e.Signal, SignalNumber: e.SignalN, TimedOut: e.TimedOut,
		Error: e.Error, DurationMS: max(in.Ended.Sub(in.Started).Milliseconds(), 0)}
}

// infoOf is a job's job_info message.
func infoOf(in jobs.Info) protocol.JobInfo {
	m := protocol.JobInfo{ID: in.ID, Command: in.Command, State: protocol.JobRunning,
		StartedMS: in.Started.UnixMilli(), Stdout: in.Written[jobs.Stdout], Stderr: in.Written[jobs.Stderr],
		StdoutStart: in.Kept[jobs.Stdout], StderrStart: in.Kept[jobs.Stderr]}
	if len(m.Command) > protocol.MaxJobCommand {
		m.Command = m.Command[:protocol.MaxJobCommand]
	}
	if e := in.Meta.End; e != nil {
		m.State, m.EndedMS, m.Outcome, m.Code, m.Signal, m.Error = protocol.JobEnded, in.Ended.UnixMilli(), e.Outcome, e.Code, e.Signal, e.Error
	}
	return m
}

// auditJob records a job request (jobs, attach, kill) as one end record.
func (c *serverConn) auditJob(kind, id, result, reason string) {
	c.s.cfg.Metrics.SessionEnded(kind, result)
	if c.s.cfg.Audit == nil {
		return
	}
	r := audit.Record{Event: audit.EventEnd, Session: session.NewID(), Fingerprint: auth.Fingerprint(c.key.Key),
		Comment: c.key.Comment, Remote: c.remote, Kind: kind, Job: id, Outcome: result, Reason: reason}
	if err := c.s.cfg.Audit.Append(r); err != nil {
		c.log.Error("audit log write failed", "err", err)
	}
}

// jobsRefused answers a job request on a server without jobs.
func (c *serverConn) jobsRefused() bool {
	if c.s.cfg.Jobs != nil {
		return false
	}
	c.sendError(protocol.CodeDenied, "jobs: this server keeps no detached jobs")
	return true
}

// listJobs answers jobs: the key's jobs, then jobs_end.
func (c *serverConn) listJobs() error {
	if c.jobsRefused() {
		return nil
	}
	if err := c.claim(jobRequest); err != nil {
		return err
	}
	defer c.release()
	list := c.s.cfg.Jobs.List(c.owner())
	c.auditJob(kindJobs, "", "ok", fmt.Sprintf("%d jobs", len(list)))
	for _, in := range list {
		if err := c.pc.Send(infoOf(in)); err != nil {
			return err
		}
	}
	return c.pc.Send(protocol.JobsEnd{})
}

// lookupJob finds the key's job, or tells the client unknown_job (and
// audits the refusal) and returns nil.
func (c *serverConn) lookupJob(kind, id string) *jobs.Job {
	j, err := c.s.cfg.Jobs.Get(c.owner(), id)
	if err != nil {
		c.auditJob(kind, id, protocol.CodeUnknownJob, err.Error())
		c.sendError(protocol.CodeUnknownJob, fmt.Sprintf("no job %s for this key: it never existed, expired, or another key started it", id))
		return nil
	}
	return j
}

// killJob answers kill: the signal to every process of the job.
func (c *serverConn) killJob(m protocol.Kill) error {
	if c.jobsRefused() {
		return nil
	}
	if err := c.claim(jobRequest); err != nil {
		return err
	}
	defer c.release()
	name := m.Signal
	if name == "" {
		name = "TERM"
	}
	sig, ok := signalByName(name)
	if !ok {
		c.sendError(protocol.CodeBadRequest, fmt.Sprintf("kill: unknown signal %q", protocol.Printable(name)))
		return nil
	}
	j := c.lookupJob(kindKill, m.ID)
	if j == nil {
		return nil
	}
	if r := c.s.jobRun(m.ID); r != nil {
		if err := r.p.SignalTree(sig); err != nil && !errors.Is(err, session.ErrClosed) {
			c.log.Info("kill failed", "job", m.ID, "err", err)
		}
	}
	c.auditJob(kindKill, m.ID, "ok", "SIG"+name)
	return c.pc.Send(protocol.KillOK{})
}

// follower is an attach in progress: its goroutine sends the job's output
// while the connection's reader goes on reading (pings, and the end of
// the connection, which stops it).
type follower struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// attachJob answers attach: attached, then the output from the asked
// offsets with a gap wherever bytes were dropped, live until the job
// ends, then its exit.
func (c *serverConn) attachJob(m protocol.Attach) error {
	if c.jobsRefused() {
		return nil
	}
	if err := c.claim(jobRequest); err != nil {
		return err
	}
	j := c.lookupJob(kindAttach, m.ID)
	if j == nil {
		c.release()
		return nil
	}
	in := j.Info()
	off := [2]int64{m.Stdout, m.Stderr}
	if m.Tail > 0 {
		for i := range off {
			off[i] = max(in.Written[i]-m.Tail, 0)
		}
	}
	for i, name := range []string{"stdout", "stderr"} {
		if off[i] > in.Written[i] {
			c.release()
			msg := fmt.Sprintf("attach: %s offset %d is past the end of the job's %s (%d bytes written so far)", name, off[i], name, in.Written[i])
			c.auditJob(kindAttach, m.ID, protocol.CodeBadRequest, msg)
			c.sendError(protocol.CodeBadRequest, msg)
			return nil
		}
	}
	c.auditJob(kindAttach, m.ID, "ok", fmt.Sprintf("from stdout %d, stderr %d", off[0], off[1]))
	if err := c.pc.Send(protocol.Attached{Stdout: off[0], Stderr: off[1]}); err != nil {
		c.release()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{cancel: cancel, done: make(chan struct{})}
	c.mu.Lock()
	c.follow = f
	c.mu.Unlock()
	go func() {
		defer close(f.done)
		defer c.release()
		defer func() { c.mu.Lock(); c.follow = nil; c.mu.Unlock() }()
		if err := c.followJob(ctx, j, off); err != nil && ctx.Err() == nil {
			c.log.Info("attach ended", "job", m.ID, "err", err)
			c.nc.Close()
		}
	}()
	return nil
}

// followJob sends the job's output from off until the job ended and
// everything was sent, then the exit.
func (c *serverConn) followJob(ctx context.Context, j *jobs.Job, off [2]int64) error {
	buf := make([]byte, attachReadSize)
	rd := [2]*jobs.Reader{j.NewReader(jobs.Stdout), j.NewReader(jobs.Stderr)}
	defer func() {
		for _, r := range rd {
			r.Close()
		}
	}()
	for {
		changed := j.Changed()
		progressed, eof := false, 0
		for st := range off {
			n, err := rd[st].ReadAt(off[st], buf)
			switch {
			case err == nil:
				// a frame's TLS records leave in one write (transport.WriteBatcher)
				if err := c.pc.Send(protocol.Data{Stream: streamType(st), Body: buf[:n]}); err != nil {
					return err
				}
				off[st] += int64(n)
				progressed = true
			case errors.Is(err, jobs.ErrDropped):
				kept := j.Info().Kept[st]
				if kept > off[st] {
					if err := c.pc.Send(protocol.Gap{Stream: streamType(st), From: off[st], To: kept}); err != nil {
						return err
					}
					off[st] = kept
				}
				progressed = true
			case errors.Is(err, io.EOF):
				eof++
			case errors.Is(err, jobs.ErrPastEnd):
			default:
				return err
			}
		}
		if eof == len(off) {
			return c.pc.Send(exitOf(j.Info()))
		}
		if progressed {
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// endFollow stops an attach in progress (the connection ended) and waits
// for its goroutine.
func (c *serverConn) endFollow() {
	c.mu.Lock()
	f := c.follow
	c.mu.Unlock()
	if f != nil {
		f.cancel()
		<-f.done
	}
}
