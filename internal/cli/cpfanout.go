package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/fanout"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/transfer"
)

// This file is `rexec cp` to many hosts (issue #6): the same local
// sources uploaded to every host, -f at a time, through fanout.Runner
// with a cpJob, so that outcomes, output modes, the summary and the exit
// status are those of `rexec run` on many hosts.

// errCpTimeout ends a single-host copy that --timeout cut short.
var errCpTimeout = errors.New("--timeout expired")

// runFanout uploads srcs to every host of dsts (and --hosts, less -x)
// and exits as a fan-out does (docs/CLI.md §4): 0 when every host has every
// file, 255 when a host could not be reached, else the highest status
// (1 for a copy that failed, 124 for --timeout). No host key question
// is asked: an unknown key fails that host unless --accept-new is given.
func (o *cpOpts) runFanout(ctx context.Context, g *globals, env Env, srcs, dsts []client.Operand) error {
	hosts, pathOf, err := o.fanHosts(dsts, env)
	if err != nil {
		return err
	}
	opts, err := o.fan.options(o.conn.port)
	if err != nil {
		return fail(outcome.ExitUsage, err)
	}
	if err := checkSources(srcs, o.recursive); err != nil {
		return fail(outcome.ExitError, err)
	}
	cfg, err := o.conn.clientConfig(g, env)
	if err != nil {
		return err
	}
	cfg.Confirm = nil
	job := &cpJob{o: o, srcs: srcs, pathOf: pathOf, prog: newProgress(env.Stderr, o.quiet)}
	errw := io.Writer(env.Stderr)
	if job.prog != nil {
		// Lines for the terminal the bars are on go above them.
		errw = job.prog
		if isTerminalWriter(env.Stdout) {
			env.Stdout = job.prog
		}
		_, job.total = sourceSize(srcs, o.recursive)
	}
	r := &fanout.Runner{Config: cfg, Job: job.run, JobTimeout: o.timeout, Options: opts}
	return o.fan.run(ctx, r, hosts, env, errw, job.prog.wait)
}

// fanHosts builds the host list from the destinations, --hosts and -x,
// and the function giving each host's destination path.
func (o *cpOpts) fanHosts(dsts []client.Operand, env Env) ([]string, func(string) string, error) {
	if o.fan.hostsFile != "" {
		hosts, err := o.fan.hosts(nil, env, o.conn.port)
		path := dsts[0].Path
		return hosts, func(string) string { return path }, err
	}
	paths, err := fanout.Destinations(dsts)
	if err != nil {
		return nil, nil, fail(outcome.ExitUsage, err)
	}
	patterns := make([]string, len(dsts))
	for i, d := range dsts {
		patterns[i] = d.Host
	}
	hosts, err := o.fan.hosts(patterns, env, o.conn.port)
	return hosts, func(h string) string { return paths[h] }, err
}

// checkSources refuses, before any host is contacted, a source that
// every host would fail on: one that does not exist, a directory without
// -r, a name that cannot be copied under itself.
func checkSources(srcs []client.Operand, recursive bool) error {
	for _, s := range srcs {
		fi, err := os.Stat(s.Path)
		switch {
		case err != nil:
			return transfer.NewFileError(s.Path, errors.New(transfer.Reason(err)))
		case fi.IsDir() && !recursive:
			return transfer.NewFileError(s.Path, fmt.Errorf("%w (use -r)", transfer.ErrIsDir))
		}
		if _, err := client.SourceName(s.Path); err != nil {
			return err
		}
	}
	return nil
}

// sourceSize is how many files srcs hold and their bytes: a tree bar's
// total, and each host bar's. A file that cannot be read is left out:
// its failure is reported.
func sourceSize(srcs []client.Operand, recursive bool) (files int, bytes int64) {
	for _, s := range srcs {
		n, b := transfer.Measure(s.Path, recursive, nil)
		files += int(n)
		bytes += b
	}
	return files, bytes
}

// cpJob is the work of rexec cp on each host of a fan-out (a fanout.Job):
// the single-host upload over the host's connection, its file failures
// written to the host's stderr, its bytes counted into the host's bar.
type cpJob struct {
	o      *cpOpts
	srcs   []client.Operand
	pathOf func(host string) string
	prog   *cpProgress // nil: no bars
	total  int64       // bytes of the sources, for the bars
}

func (j *cpJob) run(ctx context.Context, host string, c *client.Conn, stdout, stderr io.Writer) (fanout.Result, error) {
	rep := &cpReport{out: stderr, verbose: j.o.verbose, stdout: stdout, quiet: j.o.quiet}
	rep.dry = j.o.sync != nil && j.o.sync.dry
	meter := j.prog.host(host, j.total)
	if meter != nil {
		rep.meter = meter
	}
	err := j.o.uploadOver(ctx, c, j.srcs, client.Operand{Remote: true, Host: host, Path: j.pathOf(host)}, rep)
	meter.end(err == nil && rep.failed == 0)
	if err != nil {
		return fanout.Result{}, err
	}
	return rep.result(), nil
}

// result is the fan-out Result of a copy that ran to its end: copied,
// copy_failed (status 1, as for one host) naming the first failure, or
// denied when the key may not transfer files.
func (r *cpReport) result() fanout.Result {
	sum := client.CopySummary{Entries: r.sum.Entries, Failed: r.failed, Bytes: r.sum.Bytes}
	res := fanout.Result{Outcome: outcome.Copied, Copy: &sum}
	switch {
	case r.failed == 0:
		return res
	case r.denied:
		res.Outcome = outcome.Denied
	default:
		res.Outcome, res.ExitCode = outcome.CopyFailed, outcome.ExitError
	}
	res.Err = r.first
	if r.failed > 1 {
		res.Err = fmt.Errorf("%d entries failed, the first: %w", r.failed, r.first)
	}
	return res
}
