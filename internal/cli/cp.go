package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transfer"
)

type cpOpts struct {
	conn      connOpts
	recursive bool
	preserve  bool
	resume    bool
	quiet     bool
	verbose   bool
	timeout   time.Duration
	fan       fanOpts
	sync      *syncOpts // rexec sync: compare and send what differs
}

func newCpCmd(g *globals, env Env) *cobra.Command {
	o := &cpOpts{}
	cmd := &cobra.Command{
		Use:   "cp [flags] SRC... DST",
		Short: "Copy files to or from a host (HOST:PATH, as scp), or to many hosts",
		Example: `  rexec cp report.pdf host:docs/                # upload into a directory
  rexec cp -r host:/var/log/app ./logs          # download a tree
  rexec cp --resume big.iso host:/srv/          # continue an interrupted copy
  rexec cp app.tar web[01-20]:/srv/             # to many hosts`,
		Long: "Copy files between this machine and a host. HOST:PATH names a remote file,\n" +
			"relative to the remote home unless absolute; a name with a colon before any\n" +
			"slash is remote, as in scp (write ./a:b for a local one). Several sources go\n" +
			"into a directory. Every file is verified (BLAKE3) and renamed into place\n" +
			"only when complete; mode and modification time are kept.\n\n" +
			"To many hosts (uploads only):\n" +
			"  rexec cp [flags] LOCAL_SRC... HOST:PATH HOST:PATH...\n" +
			"  rexec cp [flags] LOCAL_SRC... web[01-20]:PATH\n" +
			"  rexec cp [flags] --hosts FILE [-x HOST] LOCAL_SRC... :PATH\n" +
			"copies the sources to every host, -f at a time, with one progress bar per\n" +
			"host on a terminal; one host failing never stops the others, Ctrl-C stops\n" +
			"them all (--resume continues). Each host ends copied, copy_failed, denied,\n" +
			"timed_out, connect_failed, auth_failed, host_key_mismatch, host_key_unknown,\n" +
			"connection_lost or skipped (--output json: one object per host per line).\n" +
			"Exit status: 0 when every host has every file, 255 when a host could not be\n" +
			"reached, else the highest of 1 (a copy failed) and 124 (--timeout).",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), g, env, args)
		},
	}
	f := cmd.Flags()
	o.conn.registerCopy(cmd)
	f.BoolVarP(&o.recursive, "recursive", "r", false, "copy directories recursively (symbolic links are copied as links)")
	f.BoolVarP(&o.preserve, "preserve", "p", false, "keep mode and modification time (always done; accepted for scp compatibility)")
	f.BoolVar(&o.resume, "resume", false, "continue an interrupted copy, re-using the part already there once verified")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress bars")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "report each file: where a resume started and the bytes that crossed the wire")
	f.DurationVar(&o.timeout, "timeout", 0, "give up the copy after this long, with many hosts each host's from its connection (exit status 124)")
	o.fan.register(cmd)
	return cmd
}

func (o *cpOpts) run(ctx context.Context, g *globals, env Env, args []string) error {
	if o.timeout < 0 {
		return fail(outcome.ExitUsage, errors.New("--timeout must be positive"))
	}
	plan, err := client.ParseCopy(args, client.CopyRules{HostsFile: o.fan.hostsFile != "",
		Many: func(host string) bool { return o.fan.wanted([]string{host}) }})
	if err != nil {
		return fail(outcome.ExitUsage, err)
	}
	if plan.Kind == client.UploadMany {
		return o.runFanout(ctx, g, env, plan.Sources, plan.Dests)
	}
	if plan.Kind == client.Download && (o.fan.output != "" || len(o.fan.exclude) > 0) {
		return fail(outcome.ExitUsage, errors.New("--output and -x are for uploads to several hosts; a download comes from one"))
	}
	cfg, err := o.conn.clientConfig(g, env)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.timeout, errCpTimeout)
		defer cancel()
	}
	prog := newProgress(env.Stderr, o.quiet)
	rep := newCpReport(env.Stderr, prog, o)
	rep.stdout = env.Stdout
	if plan.Kind == client.Upload {
		err = o.upload(ctx, cfg, plan.Sources, plan.Dest, rep)
	} else {
		err = o.download(ctx, cfg, plan.Sources, plan.Dest, rep)
	}
	prog.wait()
	switch {
	case err != nil && errors.Is(context.Cause(ctx), errCpTimeout):
		return fail(outcome.ExitTimedOut, fmt.Errorf("%w after %v (partial files are kept: run again with --resume to continue)", errCpTimeout, o.timeout))
	case err != nil && ctx.Err() != nil:
		return fail(outcome.ExitFailure, errors.New("interrupted (partial files are kept: run again with --resume to continue)"))
	case err != nil:
		return fail(outcome.ExitFailure, err)
	case rep.failed > 0:
		return exitError{code: outcome.ExitError}
	}
	return nil
}

// dial connects to an operand's host.
func (o *cpOpts) dial(ctx context.Context, cfg client.Config, op client.Operand) (*client.Conn, error) {
	t, err := client.ParseTarget(op.Host, o.conn.port)
	if err != nil {
		return nil, err
	}
	return client.Dial(ctx, cfg, t)
}

// upload copies local sources to dst on its host. Fatal errors are
// returned; failures of single files are reported and counted.
func (o *cpOpts) upload(ctx context.Context, cfg client.Config, srcs []client.Operand, dst client.Operand, rep *cpReport) error {
	c, err := o.dial(ctx, cfg, dst)
	if err != nil {
		return err
	}
	defer c.Close()
	return o.uploadOver(ctx, c, srcs, dst, rep)
}

// uploadOver is upload on a connection to dst's host.
func (o *cpOpts) uploadOver(ctx context.Context, c *client.Conn, srcs []client.Operand, dst client.Operand, rep *cpReport) error {
	if o.sync != nil {
		return o.syncUpOver(ctx, c, srcs, dst, rep)
	}
	st, err := c.Stat(ctx, dst.Path)
	var fe *transfer.FileError
	isDir := err == nil && st.Kind == protocol.KindDir
	if err == nil && !isDir {
		if err := notIntoFile(srcs, c.Target().Host+":"+dst.Path); err != nil {
			rep.fail(err)
			return nil
		}
	}
	if err != nil && (!errors.As(err, &fe) || fe.Code != protocol.CodeNotFound) {
		return rep.fileOrFatal(err)
	}
	dir, items, err := client.PlanUpload(srcs, dst, c.Target().Host, isDir)
	if err != nil {
		rep.fail(err)
		return nil
	}
	opts := rep.options(o)
	var bar *treeBar
	if o.recursive || len(items) > 1 { // one tree upload: one bar
		opts, bar = rep.treeOptions(o, c.Target().Host+":"+dst.Path)
		if bar != nil {
			bar.setTotal(sourceSize(srcs, o.recursive))
		}
	}
	rep.sum, err = c.Put(ctx, dir, items, opts)
	bar.end(err == nil && rep.failed == 0)
	return err
}

// notIntoFile refuses to copy a directory over an existing file, once,
// rather than once per entry of the tree.
func notIntoFile(srcs []client.Operand, shown string) error {
	for _, s := range srcs {
		if fi, err := os.Stat(s.Path); err == nil && fi.IsDir() {
			return fmt.Errorf("%s: not a directory (cannot copy directory %s onto it)", shown, s.Path)
		}
	}
	return nil
}

// download copies remote sources to the local dst.
func (o *cpOpts) download(ctx context.Context, cfg client.Config, srcs []client.Operand, dst client.Operand, rep *cpReport) error {
	fi, err := os.Stat(dst.Path)
	isDir := err == nil && fi.IsDir()
	switch {
	case dst.Path == "":
		return errors.New("empty destination")
	case !isDir && len(srcs) > 1:
		rep.fail(fmt.Errorf("%s: not a directory (several sources need one)", dst.Path))
		return nil
	case !isDir && strings.HasSuffix(dst.Path, "/") && o.sync == nil: // sync makes it
		rep.fail(fmt.Errorf("%s: no such directory", dst.Path))
		return nil
	}
	conns := map[string]*client.Conn{}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, src := range srcs {
		c := conns[src.Host]
		if c == nil {
			if c, err = o.dial(ctx, cfg, src); err != nil {
				return err
			}
			conns[src.Host] = c
		}
		if err := o.get(ctx, c, src, dst.Path, isDir, rep); err != nil {
			return err
		}
	}
	return nil
}

// get downloads one remote source. Its local name is the one the user
// typed: the destination's own name, or, into a directory, the last
// component of the remote path (client.RequestedName); never a name the
// server sends (client.Stat and client.Get refuse answers that name
// anything else). Only a directory is asked for as a tree.
func (o *cpOpts) get(ctx context.Context, c *client.Conn, src client.Operand, dst string, isDir bool, rep *cpReport) error {
	if o.sync != nil {
		return o.syncDown(ctx, c, src, dst, rep)
	}
	st, err := c.Stat(ctx, src.Path)
	if err != nil {
		return rep.fileOrFatal(err)
	}
	shown := c.Target().Host + ":" + src.Path
	if st.Kind == protocol.KindDir && !o.recursive {
		rep.fail(fmt.Errorf("%s: is a directory (use -r)", shown))
		return nil
	}
	dir, top := filepath.Dir(dst), filepath.Base(dst)
	if fi, err := os.Stat(dst); err == nil && !isDir && !fi.IsDir() && st.Kind == protocol.KindDir {
		rep.fail(fmt.Errorf("%s: not a directory (cannot copy directory %s onto it)", dst, shown))
		return nil
	}
	if isDir {
		name, ok := client.RequestedName(src.Path)
		if !ok || transfer.CheckName(name) != nil {
			rep.fail(fmt.Errorf("%s: has no name to copy it under; give a destination that does not exist", shown))
			return nil
		}
		dir, top = dst, name
	}
	opts := rep.options(o)
	var bar *treeBar
	if o.recursive && st.Kind == protocol.KindDir { // one tree download: one bar
		opts, bar = rep.treeOptions(o, shown)
		opts.Recursive = true
	}
	failed := rep.failed
	_, err = c.Get(ctx, src.Path, dir, top, opts)
	bar.end(err == nil && rep.failed == failed)
	return rep.fileOrFatal(err)
}

// cpReport prints what happens to each file and counts the failures. It
// is used from one goroutine.
type cpReport struct {
	out     io.Writer
	prefix  string  // before each line: "rexec: ", or "" on a fan-out host's own stderr
	meter   cpMeter // nil shows no progress
	verbose bool
	failed  int
	first   error // the first failure
	denied  bool  // a failure was the key's policy (no-file-transfer)
	sum     client.CopySummary
	stdout  io.Writer   // sync -n lists its plan here
	dry     bool        // sync -n
	quiet   bool        // -q: no sync summary
	prog    *cpProgress // the terminal's bars (nil: none), for a tree's bar
}

// newCpReport reports on out, or above the bars of prog when it is not nil.
func newCpReport(out io.Writer, prog *cpProgress, o *cpOpts) *cpReport {
	r := &cpReport{out: out, prefix: "rexec: ", verbose: o.verbose, stdout: io.Discard, quiet: o.quiet}
	r.dry = o.sync != nil && o.sync.dry
	if prog != nil {
		r.out, r.meter, r.prog = prog, prog, prog
	}
	return r
}

func (r *cpReport) options(o *cpOpts) client.CopyOptions {
	opts := client.CopyOptions{Recursive: o.recursive, Resume: o.resume, Done: r.done}
	if r.meter != nil {
		opts.Start = r.meter.start
	}
	return opts
}

// treeOptions are the options of a tree transfer (cp -r, several
// sources, a sync): its files and bytes count into one bar, labelled
// label, instead of a bar per file, or into the host's bar of a fan-out.
// end (never nil) completes the bar.
func (r *cpReport) treeOptions(o *cpOpts, label string) (opts client.CopyOptions, bar *treeBar) {
	opts = r.options(o)
	opts.Start = nil
	switch m := r.meter.(type) {
	case *hostMeter:
		opts.Progress = func(_ int, n int64) { m.count(n) }
	case *cpProgress:
		if !r.dry {
			bar = r.prog.tree(label)
			opts.Progress, opts.Total = bar.progress, bar.setTotal
		}
	}
	return opts, bar
}

func (r *cpReport) done(name, kind string, res transfer.Result, err error) {
	if r.meter != nil {
		r.meter.done(name, err != nil)
	}
	switch {
	case err != nil:
		r.fail(err)
	case r.verbose && kind == protocol.KindFile:
		fmt.Fprintf(r.out, "%s%s: resumed at %d bytes, %d bytes on the wire\n", r.prefix, protocol.Printable(name), res.Offset, res.Bytes)
	}
}

// fail reports one file that could not be copied.
func (r *cpReport) fail(err error) {
	r.failed++
	if r.first == nil {
		r.first = err
	}
	var fe *transfer.FileError
	if errors.As(err, &fe) && fe.Code == protocol.CodeDenied {
		r.denied = true
	}
	fmt.Fprintf(r.out, "%s%s\n", r.prefix, oneLine(err.Error()))
}

// fileOrFatal reports a file's failure and returns nil, or returns a fatal
// error (connection, protocol) for the caller to end with.
func (r *cpReport) fileOrFatal(err error) error {
	var fe *transfer.FileError
	if errors.As(err, &fe) {
		r.fail(err)
		return nil
	}
	return err
}
