package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/fanout"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// fanOpts are the flags of `rexec run` on many hosts (docs/CLI.md §7).
type fanOpts struct {
	hostsFile   string
	exclude     []string
	parallel    int
	output      string
	failFast    bool
	batch       string
	maxFailures string
}

func (o *fanOpts) register(cmd *cobra.Command) { o.registerAs(cmd, "exclude") }

// registerAs is register with the long name of -x given: sync's own
// --exclude is a file pattern, as in rsync, so there -x is --exclude-host.
func (o *fanOpts) registerAs(cmd *cobra.Command, excludeName string) {
	f := cmd.Flags()
	f.StringVar(&o.hostsFile, "hosts", "", "the hosts in FILE, one per line (# comments; - reads stdin)")
	f.StringArrayVarP(&o.exclude, excludeName, "x", nil, "leave out these hosts (ranges and commas as for HOST; repeatable)")
	f.IntVarP(&o.parallel, "fanout", "f", fanout.DefaultParallel, "how many hosts run at once")
	f.StringVar(&o.output, "output", "", "output of several hosts: prefix (default), group or json")
	f.BoolVar(&o.failFast, "fail-fast", false, "start no new host after the first one that fails")
	f.StringVar(&o.batch, "batch", "", "run in waves of N hosts, or P% of them")
	f.StringVar(&o.maxFailures, "max-failures", "", "start no new host once more than N hosts (or P%) failed")
}

// split separates HOST... from COMMAND. Without --hosts it is
// splitHostsCommand; with it, HOST arguments are optional: those before
// "--" are added to the file's, and without "--" every argument is the
// command.
func (o *fanOpts) split(args []string, dash int) ([]string, []string, error) {
	if o.hostsFile == "" {
		return splitHostsCommand(args, dash)
	}
	if dash < 0 {
		if dash = slices.Index(args, "--"); dash >= 0 {
			args = slices.Delete(slices.Clone(args), dash, dash+1)
		}
	}
	if dash < 0 {
		dash = 0
	}
	if len(args[dash:]) == 0 {
		return nil, nil, fmt.Errorf("no command given")
	}
	return args[:dash], args[dash:], nil
}

// wanted reports whether this run is a fan-out: several hosts, a host
// pattern that expands (web[1-3]), or any fan-out-only flag. One plain
// host keeps the single-host path with stdin, signals and -t.
func (o *fanOpts) wanted(hosts []string) bool {
	if o.hostsFile != "" || o.output != "" || len(o.exclude) > 0 || len(hosts) != 1 {
		return true
	}
	expanded, err := fanout.Expand(hosts[0])
	return err != nil || len(expanded) != 1 || expanded[0] != hosts[0]
}

// runFanout runs req on every host named by args, --hosts and -x, and
// exits as docs/CLI.md §4 says for a fan-out. Stdin is not forwarded (every
// remote stdin is empty, as with pdsh), -t is refused, and no host key
// question is ever asked: an unknown key fails that host unless
// --accept-new is given.
func runFanout(ctx context.Context, cfg client.Config, args []string, o *runOpts, req protocol.Exec, env Env) error {
	if o.tty.force {
		return fail(outcome.ExitUsage, errors.New("-t needs a single host: a terminal cannot be shared by several"))
	}
	req.PTY = false
	hosts, err := o.fan.hosts(args, env, o.conn.port)
	if err != nil {
		return err
	}
	opts, err := o.fan.options(o.conn.port)
	if err != nil {
		return fail(outcome.ExitUsage, err)
	}
	cfg.Confirm = nil
	r := &fanout.Runner{Config: cfg, Request: req, Options: opts}
	if req.Detach {
		r.Job = detachJob(req)
	}
	return o.fan.run(ctx, r, hosts, env, env.Stderr, nil)
}

// run runs r on hosts and reports as docs/CLI.md §4 and §7 say for a fan-out:
// every host's outcome through the printer of --output (its lines for
// the local stderr go to errw), a summary line when stderr is a
// terminal, and the exit status. settle, when non-nil, is called after
// the last host ended and before the summary (progress bars finish
// drawing), on every path. Ctrl-C cancels every host.
func (o *fanOpts) run(ctx context.Context, r *fanout.Runner, hosts []string, env Env, errw io.Writer, settle func()) error {
	p, err := fanout.NewPrinter(o.output, env.Stdout, errw)
	if err != nil {
		if settle != nil {
			settle()
		}
		return fail(outcome.ExitUsage, err)
	}
	ctx, stop := cancelOnSignal(ctx)
	defer stop()
	results, err := r.Run(ctx, hosts, p)
	if settle != nil {
		settle()
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "rexec: writing output: %s\n", oneLine(err.Error()))
	}
	if isTerminalWriter(env.Stderr) {
		fmt.Fprintln(env.Stderr, fanout.Summary(results))
	}
	if code := fanout.ExitStatus(results); code != 0 {
		return exitError{code: code}
	}
	if err != nil {
		return exitError{code: outcome.ExitFailure}
	}
	return nil
}

// hosts builds the host list from the arguments, --hosts and -x, and
// checks that each is a host to connect to (port when it names none).
func (o *fanOpts) hosts(args []string, env Env, port int) ([]string, error) {
	include := slices.Clone(args)
	if o.hostsFile != "" {
		fromFile, err := readHostsFile(o.hostsFile, env)
		if err != nil {
			return nil, fail(outcome.ExitUsage, err)
		}
		include = append(include, fromFile...)
	}
	hosts, err := fanout.List(include, o.exclude)
	if err != nil {
		return nil, fail(outcome.ExitUsage, err)
	}
	if len(hosts) == 0 {
		return nil, fail(outcome.ExitUsage, errors.New("no hosts (all excluded by -x, or an empty --hosts file)"))
	}
	for _, h := range hosts {
		if _, err := client.ParseTarget(h, port); err != nil {
			return nil, fail(outcome.ExitUsage, err)
		}
	}
	return hosts, nil
}

// readHostsFile reads a --hosts file, "-" being stdin.
func readHostsFile(path string, env Env) ([]string, error) {
	var r io.Reader = env.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	hosts, err := fanout.ParseHostsFile(r)
	if err != nil {
		return nil, fmt.Errorf("--hosts %s: %w", path, err)
	}
	return hosts, nil
}

// options turns the flags into fanout.Options.
func (o *fanOpts) options(port int) (fanout.Options, error) {
	if o.parallel < 1 {
		return fanout.Options{}, fmt.Errorf("-f must be at least 1")
	}
	batch, err := fanout.ParseBudget(o.batch)
	if err != nil {
		return fanout.Options{}, fmt.Errorf("--batch: %w", err)
	}
	maxFail, err := fanout.ParseBudget(o.maxFailures)
	if err != nil {
		return fanout.Options{}, fmt.Errorf("--max-failures: %w", err)
	}
	if _, err := fanout.NewPrinter(o.output, io.Discard, io.Discard); err != nil {
		return fanout.Options{}, err
	}
	opts := fanout.Options{Parallel: o.parallel, FailFast: o.failFast, Batch: batch, MaxFailures: maxFail, Port: port}
	return opts, opts.Validate()
}

// cancelOnSignal cancels ctx on SIGINT, SIGTERM or SIGHUP: no new host
// starts and every open connection is closed, so each server kills its
// command's process tree (the hosts report connection_lost).
func cancelOnSignal(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case s := <-sigc:
			cancel(fmt.Errorf("interrupted by %v", s))
		case <-done:
		}
	}()
	return ctx, func() { signal.Stop(sigc); close(done); <-finished; cancel(nil) }
}

// isTerminalWriter reports whether w is a terminal: the summary line is
// for people, not for pipes.
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
