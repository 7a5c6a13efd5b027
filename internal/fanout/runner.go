package fanout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// DefaultParallel is how many hosts run at once without -f, as pdsh's
// default fanout: enough to hide network latency, few enough that a
// laptop's file descriptors and the servers' login limits are safe.
const DefaultParallel = 32

// TimeoutSlack is how long after the command's --timeout the client waits
// for the server's exit message before it gives up on the host and closes
// the connection. The server reports the kill within its kill grace
// (half a second by default); a server that says nothing this long after
// is treated as lost, and closing the connection makes a live server kill
// the tree anyway.
const TimeoutSlack = 5 * time.Second

// Errors that explain why a host ended the way it did; match with
// errors.Is on Result.Err.
var (
	// ErrNoExitAfterTimeout: the server did not report the end of a
	// command within TimeoutSlack after its --timeout.
	ErrNoExitAfterTimeout = errors.New("fanout: no exit from the server after the timeout; connection closed")
	// ErrFailFast: not started because a host failed under --fail-fast.
	ErrFailFast = errors.New("fanout: not started: a host failed and --fail-fast is set")
	// ErrTooManyFailures: not started because more hosts failed than
	// --max-failures allows.
	ErrTooManyFailures = errors.New("fanout: not started: more hosts failed than --max-failures allows")
	// ErrInterrupted: not started, or not connected, because the run was
	// cancelled (Ctrl-C).
	ErrInterrupted = errors.New("fanout: not started: interrupted")
	// ErrBadOptions is an invalid Options value.
	ErrBadOptions = errors.New("fanout: bad options")
	// ErrJobTimeout: a Job did not finish within Runner.JobTimeout; its
	// connection was closed (the host is timed_out).
	ErrJobTimeout = errors.New("fanout: --timeout expired; connection closed")
)

// Job is the work done on one host once it is connected: host is the
// host as the user wrote it, c its connection (which the Runner closes
// afterwards), stdout and stderr where the host's output goes (the
// Printer's writers; a Job writes each from one goroutine). It returns
// the host's Result (Index, Host and Duration are filled in by the
// Runner), or an error when the request could not run to its end: the
// Runner reports the outcome the error carries (a *client.Error: lost
// connection, protocol error), timed_out when ctx ended for JobTimeout,
// or connection_lost. A Job stops when ctx ends and starts no goroutine
// that outlives it.
type Job func(ctx context.Context, host string, c *client.Conn, stdout, stderr io.Writer) (Result, error)

// Options shape a rollout. The zero value runs every host, DefaultParallel
// at a time, to the end whatever fails.
type Options struct {
	// Parallel is how many hosts run at once (-f); zero means
	// DefaultParallel. It bounds connections and file descriptors too:
	// a host's connection is opened only when its turn comes.
	Parallel int
	// FailFast starts no new host after the first host that is not OK;
	// hosts already running finish.
	FailFast bool
	// Batch, when set, runs the hosts in waves of that many (or that
	// share); a wave starts when the previous one has ended. Unset is one
	// wave of all hosts.
	Batch Budget
	// MaxFailures, when set, starts no new host once more hosts failed
	// than it allows (a share counts against all hosts). Unset is no
	// limit.
	MaxFailures Budget
	// Port is the port for hosts that name none; zero means
	// client.DefaultPort.
	Port int
}

// Validate reports an Options value that cannot run.
func (o Options) Validate() error {
	switch {
	case o.Parallel < 0:
		return fmt.Errorf("%w: parallelism (-f) must be positive", ErrBadOptions)
	case o.Batch.IsSet() && o.Batch.Ceil(1) == 0:
		return fmt.Errorf("%w: --batch must be at least 1", ErrBadOptions)
	}
	return nil
}

// Runner runs one request on many hosts. Config is used for every host,
// except that Confirm is ignored: with many hosts there is no one to ask,
// so an unknown host key is refused unless Config.AcceptNew is set (each
// host's result says so). The request is Request, a command, unless Job
// is set. The command's TimeoutMS is each host's --timeout; Stdin is never
// forwarded (the remote stdin is empty, as with pdsh). A Runner may be
// used for one Run at a time.
type Runner struct {
	Config  client.Config
	Request protocol.Exec
	// Job, when non-nil, is done on each host instead of Request (rexec
	// cp to many hosts).
	Job Job
	// JobTimeout, when positive, bounds each host's Job from the moment
	// it is connected: then the connection is closed and the host is
	// timed_out (exit status 124) with ErrJobTimeout. It does not apply
	// to Request, whose TimeoutMS the server enforces.
	JobTimeout time.Duration
	Options    Options

	// runHost replaces the network for scheduling tests.
	runHost func(ctx context.Context, index int, host string, p Printer) Result
}

// Run runs the request on every host and returns one Result per host, in
// host order, after the last host ended and p.Flush was called; Flush's
// error is returned. Hosts that were never started (fail-fast, failure
// budget, cancellation) get outcome Skipped and one of ErrFailFast,
// ErrTooManyFailures or ErrInterrupted. One host failing never stops the
// others unless FailFast or MaxFailures says so. Cancelling ctx (Ctrl-C)
// starts no new host and closes every open connection, which makes each
// server kill its command's process tree; those hosts report
// connection_lost. Run never starts more than Options.Parallel hosts at
// once.
func (r *Runner) Run(ctx context.Context, hosts []string, p Printer) ([]Result, error) {
	if err := r.Options.Validate(); err != nil {
		return nil, err
	}
	s := newSchedule(r.Options, len(hosts))
	results := make([]Result, len(hosts))
	started := make([]bool, len(hosts))
	sem := make(chan struct{}, s.parallel)
	var wg sync.WaitGroup
	for lo := 0; lo < len(hosts) && s.stopReason(ctx) == nil; lo += s.batch {
		for i := lo; i < min(lo+s.batch, len(hosts)); i++ {
			if !acquire(ctx, sem) {
				break
			}
			if s.stopReason(ctx) != nil {
				<-sem
				break
			}
			started[i] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				res := r.one(ctx, i, hosts[i], p)
				results[i] = res
				s.record(res)
				p.End(res)
			}()
		}
		wg.Wait() // a wave ends before the next starts
	}
	wg.Wait()
	reason := s.stopReason(ctx)
	for i, h := range hosts {
		if !started[i] {
			results[i] = Result{Index: i, Host: h, Outcome: outcome.Skipped, Err: reason}
			p.End(results[i])
		}
	}
	return results, p.Flush()
}

// acquire takes a slot, or reports false when ctx ends first.
func acquire(ctx context.Context, sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// schedule is the rollout's shared state: the host goroutines record
// results, the starting loop asks whether to go on.
type schedule struct {
	parallel, batch int
	failFast        bool
	allowed         int // failures tolerated; -1 for no limit

	mu       sync.Mutex // mu guards failures
	failures int
}

func newSchedule(o Options, total int) *schedule {
	s := &schedule{parallel: o.Parallel, batch: total, failFast: o.FailFast, allowed: -1}
	if s.parallel == 0 {
		s.parallel = DefaultParallel
	}
	if o.Batch.IsSet() {
		s.batch = max(1, o.Batch.Ceil(total))
	}
	s.batch = max(1, s.batch)
	if o.MaxFailures.IsSet() {
		s.allowed = o.MaxFailures.Floor(total)
	}
	return s
}

func (s *schedule) record(r Result) {
	if r.OK() {
		return
	}
	s.mu.Lock()
	s.failures++
	s.mu.Unlock()
}

// stopReason says why no new host may start, or nil.
func (s *schedule) stopReason(ctx context.Context) error {
	if ctx.Err() != nil {
		return ErrInterrupted
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.failFast && s.failures > 0:
		return ErrFailFast
	case s.allowed >= 0 && s.failures > s.allowed:
		return ErrTooManyFailures
	}
	return nil
}

// one runs the request on one host.
func (r *Runner) one(ctx context.Context, index int, host string, p Printer) Result {
	if r.runHost != nil {
		return r.runHost(ctx, index, host, p)
	}
	start := time.Now()
	res := r.connectAndRun(ctx, index, host, p)
	res.Index, res.Host, res.Duration = index, host, time.Since(start)
	return res
}

func (r *Runner) connectAndRun(ctx context.Context, index int, host string, p Printer) Result {
	port := r.Options.Port
	if port == 0 {
		port = client.DefaultPort
	}
	t, err := client.ParseTarget(host, port)
	if err != nil {
		return Result{Outcome: outcome.ConnectFailed, Err: err}
	}
	cfg := r.Config
	cfg.Confirm = nil
	stdout, stderr := p.Begin(index, host)
	c, err := client.Dial(ctx, cfg, t)
	if err != nil {
		if ctx.Err() != nil {
			return Result{Outcome: outcome.Skipped, Err: fmt.Errorf("%w (while connecting)", ErrInterrupted)}
		}
		return Result{Outcome: client.OutcomeOf(err), Err: err}
	}
	defer c.Close()
	job, jobCtx := r.Job, ctx
	if job == nil {
		job = r.runRequest
	} else if r.JobTimeout > 0 {
		var cancel context.CancelFunc
		jobCtx, cancel = context.WithTimeoutCause(ctx, r.JobTimeout, ErrJobTimeout)
		defer cancel()
	}
	res, err := job(jobCtx, host, c, stdout, stderr)
	if err != nil {
		return failedResult(jobCtx, err)
	}
	return res
}

// failedResult is the Result of a host whose request failed with err,
// which the cause of ctx's end replaces: the connection was closed
// because of it.
func failedResult(ctx context.Context, err error) Result {
	if cause := context.Cause(ctx); cause != nil {
		err = cause
	}
	if errors.Is(err, ErrJobTimeout) {
		return Result{Outcome: outcome.TimedOut, ExitCode: outcome.ExitTimedOut, Err: err}
	}
	return Result{Outcome: client.OutcomeOf(err), Err: err}
}

// runRequest is the Job of a command: run Request, and give up on a
// server that does not report the end within TimeoutSlack after the
// command's own timeout.
func (r *Runner) runRequest(ctx context.Context, _ string, c *client.Conn, stdout, stderr io.Writer) (Result, error) {
	if r.Request.TimeoutMS > 0 {
		limit := time.Duration(r.Request.TimeoutMS)*time.Millisecond + TimeoutSlack
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, limit, ErrNoExitAfterTimeout)
		defer cancel()
	}
	out, err := c.Run(ctx, r.Request, client.IO{Stdout: stdout, Stderr: stderr})
	if err != nil {
		return failedResult(ctx, err), nil
	}
	return exitResult(out.Exit), nil
}

// ExitResult is the Result of a host whose server sent exit e (a Job
// that ran a command, or attached to one).
func ExitResult(e protocol.Exit) Result { return exitResult(e) }

// FailedResult is the Result of a Job that failed with err (an
// *client.Error) while ctx was its context.
func FailedResult(ctx context.Context, err error) Result { return failedResult(ctx, err) }

// exitResult turns the server's exit message into a Result.
func exitResult(e protocol.Exit) Result {
	res := Result{Outcome: outcome.Exited, ExitCode: e.Code}
	switch {
	case e.TimedOut:
		res.Outcome, res.ExitCode = outcome.TimedOut, outcome.ExitTimedOut
	case e.Signal != "":
		res.Outcome, res.Signal = outcome.Signaled, e.Signal
		if res.ExitCode == 0 {
			res.ExitCode = outcome.SignalStatus(e.SignalNumber)
		}
	}
	if e.Error != "" {
		res.Err = errors.New(e.Error)
	}
	return res
}
