package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/fanout"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// Detached jobs (docs/CLI.md §10): run --detach, jobs, attach, kill.

// dialOne parses host and connects to it, as every one-host command does.
func dialOne(ctx context.Context, cfg client.Config, host string, port int) (*client.Conn, error) {
	t, err := client.ParseTarget(host, port)
	if err != nil {
		return nil, fail(outcome.ExitFailure, err)
	}
	c, err := client.Dial(ctx, cfg, t)
	if err != nil {
		return nil, fail(outcome.ExitFailure, err)
	}
	return c, nil
}

// runDetachOne starts req as a detached job on host and prints its id as
// the last line of stdout.
func runDetachOne(ctx context.Context, cfg client.Config, host string, o *runOpts, req protocol.Exec, env Env) error {
	c, err := dialOne(ctx, cfg, host, o.conn.port)
	if err != nil {
		return err
	}
	defer c.Close()
	id, res, err := c.Detach(ctx, req)
	if err != nil {
		return fail(outcome.ExitFailure, err)
	}
	if id == "" {
		return exitStatus(c.Target(), res, o.timeout)
	}
	fmt.Fprintln(env.Stdout, id)
	return nil
}

// detachJob is the fan-out Job of run --detach: each host's job id is
// its output line and its result's Job.
func detachJob(req protocol.Exec) fanout.Job {
	return func(ctx context.Context, _ string, c *client.Conn, stdout, _ io.Writer) (fanout.Result, error) {
		id, res, err := c.Detach(ctx, req)
		if err != nil {
			return fanout.FailedResult(ctx, err), nil
		}
		if id == "" {
			return fanout.ExitResult(res.Exit), nil
		}
		fmt.Fprintln(stdout, id)
		r := fanout.ExitResult(protocol.Exit{})
		r.Job = id
		return r, nil
	}
}

type jobsOpts struct {
	conn   connOpts
	output string
}

func newJobsCmd(g *globals, env Env) *cobra.Command {
	o := &jobsOpts{}
	cmd := &cobra.Command{
		Use:   "jobs [flags] HOST",
		Short: "List your detached jobs on a host",
		Example: `  rexec jobs web01
  rexec jobs --output json web01`,
		Long: "List the detached jobs (rexec run --detach) that this key started on HOST:\n" +
			"id, state, start, outcome, bytes written to stdout and stderr, command.\n" +
			"Finished jobs are kept until the server's job_ttl passes.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.output != "" && o.output != "text" && o.output != "json" {
				return fail(outcome.ExitUsage, fmt.Errorf("--output must be text or json, not %q", o.output))
			}
			cfg, err := o.conn.clientConfig(g, env)
			if err != nil {
				return err
			}
			c, err := dialOne(cmd.Context(), cfg, args[0], o.conn.port)
			if err != nil {
				return err
			}
			defer c.Close()
			list, err := c.Jobs(cmd.Context())
			if err != nil {
				return fail(outcome.ExitFailure, err)
			}
			if o.output == "json" {
				return printJobsJSON(env.Stdout, list)
			}
			return printJobs(env.Stdout, list)
		},
	}
	o.conn.register(cmd)
	cmd.Flags().StringVar(&o.output, "output", "", "text (default) or json: one object per line")
	return cmd
}

// jobRecord is one job in `rexec jobs --output json` (docs/CLI.md §10).
type jobRecord struct {
	ID            string  `json:"id"`
	Command       string  `json:"command"`
	State         string  `json:"state"`
	Started       string  `json:"started"`
	Ended         *string `json:"ended"`
	Outcome       *string `json:"outcome"`
	ExitCode      *int    `json:"exit_code"`
	Signal        *string `json:"signal"`
	Error         *string `json:"error"`
	StdoutBytes   int64   `json:"stdout_bytes"`
	StderrBytes   int64   `json:"stderr_bytes"`
	StdoutDropped int64   `json:"stdout_dropped"`
	StderrDropped int64   `json:"stderr_dropped"`
}

func msTime(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }

func recordOf(j protocol.JobInfo) jobRecord {
	r := jobRecord{ID: j.ID, Command: j.Command, State: j.State, Started: msTime(j.StartedMS),
		StdoutBytes: j.Stdout, StderrBytes: j.Stderr, StdoutDropped: j.StdoutStart, StderrDropped: j.StderrStart}
	if j.State == protocol.JobEnded {
		ended, out, code := msTime(j.EndedMS), j.Outcome, j.Code
		r.Ended, r.Outcome, r.ExitCode = &ended, &out, &code
		if j.Signal != "" {
			sig := j.Signal
			r.Signal = &sig
		}
		if j.Error != "" {
			e := j.Error
			r.Error = &e
		}
	}
	return r
}

func printJobsJSON(w io.Writer, list []protocol.JobInfo) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, j := range list {
		if err := enc.Encode(recordOf(j)); err != nil {
			return fail(outcome.ExitFailure, err)
		}
	}
	return nil
}

func printJobs(w io.Writer, list []protocol.JobInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSTARTED\tOUTCOME\tSTDOUT\tSTDERR\tCOMMAND")
	for _, j := range list {
		res := "-"
		if j.State == protocol.JobEnded {
			res = fmt.Sprintf("%s %d", j.Outcome, j.Code)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", j.ID, j.State, msTime(j.StartedMS), res,
			j.Stdout, j.Stderr, protocol.Printable(j.Command))
	}
	if err := tw.Flush(); err != nil {
		return fail(outcome.ExitFailure, err)
	}
	return nil
}

type attachOpts struct {
	conn       connOpts
	fan        fanOpts
	from       int64
	stderrFrom int64
	tail       int64
	jobsFile   string
}

func newAttachCmd(g *globals, env Env) *cobra.Command {
	o := &attachOpts{}
	cmd := &cobra.Command{
		Use:   "attach [flags] HOST JOB | attach --jobs FILE [flags]",
		Short: "Print a detached job's output, live, and exit as it did",
		Example: `  rexec attach web01 3f2a9c0d11b4e6a7
  rexec attach --from 1048576 web01 3f2a9c0d11b4e6a7
  rexec attach --tail 4096 web01 3f2a9c0d11b4e6a7
  rexec run --detach --output json web[01-20] -- ./deploy > rollout.json
  rexec attach --jobs rollout.json --output group`,
		Long: "Print job JOB's output from an offset, follow it while it runs, then exit\n" +
			"with its exit status (128+N when a signal killed it). --from counts bytes of\n" +
			"stdout; stderr starts at --stderr-from (default 0). --tail N starts each\n" +
			"stream N bytes before its end. Output the job dropped over its spool cap is\n" +
			"reported on stderr with its exact byte range.\n\n" +
			"--jobs FILE attaches to the job of every host in FILE, the json lines that\n" +
			"`rexec run --detach --output json` printed (- reads stdin), with the usual\n" +
			"fan-out output (--output prefix, group or json) and exit status.",
		Args: cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := protocol.Attach{Stdout: o.from, Stderr: o.stderrFrom, Tail: o.tail}
			if err := checkAttach(req); err != nil {
				return fail(outcome.ExitUsage, err)
			}
			cfg, err := o.conn.clientConfig(g, env)
			if err != nil {
				return err
			}
			if o.jobsFile != "" {
				if len(args) != 0 {
					return fail(outcome.ExitUsage, errors.New("--jobs names the hosts and jobs: give no HOST JOB"))
				}
				return attachFanout(cmd.Context(), cfg, o, req, env)
			}
			if len(args) != 2 {
				return fail(outcome.ExitUsage, errors.New("want HOST JOB (or --jobs FILE)"))
			}
			if err := protocol.CheckJobID(args[1]); err != nil {
				return fail(outcome.ExitUsage, err)
			}
			req.ID = args[1]
			return attachOne(cmd.Context(), cfg, args[0], o, req, env)
		},
	}
	o.conn.register(cmd)
	f := cmd.Flags()
	f.Int64Var(&o.from, "from", 0, "start at this byte offset of stdout")
	f.Int64Var(&o.stderrFrom, "stderr-from", 0, "start at this byte offset of stderr")
	f.Int64Var(&o.tail, "tail", 0, "start each stream this many bytes before its end")
	f.StringVar(&o.jobsFile, "jobs", "", "attach to the jobs listed in FILE (json lines of run --detach --output json; - reads stdin)")
	f.StringVar(&o.fan.output, "output", "", "with --jobs: prefix (default), group or json")
	f.IntVarP(&o.fan.parallel, "fanout", "f", fanout.DefaultParallel, "with --jobs: how many hosts at once")
	return cmd
}

// checkAttach refuses flags that cannot go together.
func checkAttach(req protocol.Attach) error {
	switch {
	case req.Stdout < 0 || req.Stderr < 0 || req.Tail < 0:
		return errors.New("--from, --stderr-from and --tail must not be negative")
	case req.Tail > 0 && (req.Stdout > 0 || req.Stderr > 0):
		return errors.New("--tail and --from/--stderr-from are exclusive")
	}
	return nil
}

// gapNote tells the user which bytes of a stream the job dropped.
func gapNote(w io.Writer, host, id string) func(protocol.Gap) {
	return func(g protocol.Gap) {
		fmt.Fprintf(w, "rexec: %s: job %s: %s bytes %d to %d (%d bytes) were dropped: the job passed its spool cap\n",
			host, id, g.Stream, g.From, g.To, g.To-g.From)
	}
}

func attachOne(ctx context.Context, cfg client.Config, host string, o *attachOpts, req protocol.Attach, env Env) error {
	c, err := dialOne(ctx, cfg, host, o.conn.port)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, stop := cancelOnSignal(ctx)
	defer stop()
	res, err := c.Attach(ctx, req, client.AttachIO{Stdout: env.Stdout, Stderr: env.Stderr, Gap: gapNote(env.Stderr, host, req.ID)})
	if err != nil {
		return fail(outcome.ExitFailure, err)
	}
	return exitStatus(c.Target(), res, 0)
}

// attachFanout attaches to the job of every host listed in the json lines
// of o.jobsFile.
func attachFanout(ctx context.Context, cfg client.Config, o *attachOpts, req protocol.Attach, env Env) error {
	var in io.Reader = env.Stdin
	if o.jobsFile != "-" {
		f, err := os.Open(o.jobsFile)
		if err != nil {
			return fail(outcome.ExitUsage, err)
		}
		defer f.Close()
		in = f
	}
	hosts, ids, err := parseJobsFile(in)
	if err != nil {
		return fail(outcome.ExitUsage, fmt.Errorf("--jobs %s: %w", o.jobsFile, err))
	}
	opts, err := o.fan.options(o.conn.port)
	if err != nil {
		return fail(outcome.ExitUsage, err)
	}
	cfg.Confirm = nil
	job := func(ctx context.Context, host string, c *client.Conn, stdout, stderr io.Writer) (fanout.Result, error) {
		r := req
		r.ID = ids[host]
		res, err := c.Attach(ctx, r, client.AttachIO{Stdout: stdout, Stderr: stderr, Gap: gapNote(stderr, host, r.ID)})
		if err != nil {
			return fanout.FailedResult(ctx, err), nil
		}
		out := fanout.ExitResult(res.Exit)
		out.Job = r.ID
		return out, nil
	}
	r := &fanout.Runner{Config: cfg, Job: job, Options: opts}
	return o.fan.run(ctx, r, hosts, env, env.Stderr, nil)
}

// maxJobsFile bounds the lines of a --jobs file (a host list's bound).
const maxJobsFile = 1 << 16

// parseJobsFile reads the json lines of `run --detach --output json`:
// each line's host and job; lines without a job (a host whose detach
// failed) are skipped. A host listed twice is refused.
func parseJobsFile(r io.Reader) (hosts []string, ids map[string]string, err error) {
	ids = map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if n > maxJobsFile {
			return nil, nil, fmt.Errorf("more than %d lines", maxJobsFile)
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var rec struct {
			Host string `json:"host"`
			Job  string `json:"job"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", n, err)
		}
		if rec.Job == "" {
			continue
		}
		if rec.Host == "" {
			return nil, nil, fmt.Errorf("line %d: no host", n)
		}
		if err := protocol.CheckJobID(rec.Job); err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", n, err)
		}
		if _, dup := ids[rec.Host]; dup {
			return nil, nil, fmt.Errorf("line %d: host %s listed twice", n, rec.Host)
		}
		ids[rec.Host] = rec.Job
		hosts = append(hosts, rec.Host)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	if len(hosts) == 0 {
		return nil, nil, errors.New("no host with a job")
	}
	return hosts, ids, nil
}

type killOpts struct {
	conn   connOpts
	signal string
}

func newKillCmd(g *globals, env Env) *cobra.Command {
	o := &killOpts{}
	cmd := &cobra.Command{
		Use:     "kill [flags] HOST JOB",
		Short:   "Send a signal to every process of a detached job",
		Example: "  rexec kill web01 3f2a9c0d11b4e6a7\n  rexec kill -s KILL web01 3f2a9c0d11b4e6a7",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := protocol.CheckJobID(args[1]); err != nil {
				return fail(outcome.ExitUsage, err)
			}
			sig := strings.TrimPrefix(strings.ToUpper(o.signal), "SIG")
			if sig == "" {
				return fail(outcome.ExitUsage, errors.New("-s needs a signal name"))
			}
			cfg, err := o.conn.clientConfig(g, env)
			if err != nil {
				return err
			}
			c, err := dialOne(cmd.Context(), cfg, args[0], o.conn.port)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.Kill(cmd.Context(), args[1], sig); err != nil {
				return fail(outcome.ExitFailure, err)
			}
			return nil
		},
	}
	o.conn.register(cmd)
	cmd.Flags().StringVarP(&o.signal, "signal", "s", "TERM", "the signal, by name (TERM, KILL, INT, HUP, ...)")
	return cmd
}
