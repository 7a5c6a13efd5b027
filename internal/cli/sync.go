package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transfer"
)

// syncOpts are sync's own flags; the rest are cp's (cpOpts), whose code
// runs sync too: one host, a download, or a fan-out to many hosts.
type syncOpts struct {
	rules client.SyncRules
	dry   bool
}

func newSyncCmd(g *globals, env Env) *cobra.Command {
	o := &cpOpts{recursive: true, sync: &syncOpts{}}
	cmd := &cobra.Command{
		Use:   "sync [flags] SRC... [USER@]HOST:DST",
		Short: "Make a remote directory hold what a local one holds (or the other way), sending only what changed",
		Example: `  rexec sync site/ web01:/srv/site               # the contents of site into /srv/site
  rexec sync --delete -n site/ web01:/srv/site    # what --delete would remove, changing nothing
  rexec sync web01:/var/log/app/ ./logs           # the other direction
  rexec sync --exclude '*.tmp' site/ web[01-04]:/srv/site`,
		Long: "Copy what differs, as rsync -a does: a file whose size and modification time\n" +
			"match the destination's is skipped (--checksum compares BLAKE3 digests instead),\n" +
			"everything else is sent as cp -r sends it (verified, durable, renamed into place).\n" +
			"A trailing / on SRC means its contents; without it, SRC itself goes inside DST.\n" +
			"--delete removes what the source does not have, only inside DST; --exclude\n" +
			"PATTERN leaves matching names alone on both sides; -n lists what would be done.\n" +
			"Ends with a summary of files and bytes sent. Flags and many-host destinations\n" +
			"are cp's.",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), g, env, args)
		},
	}
	f := cmd.Flags()
	o.conn.registerCopy(cmd)
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress bar and no summary")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "report each file sent")
	f.DurationVar(&o.timeout, "timeout", 0, "give up after this long, with many hosts each host's from its connection (exit status 124)")
	f.BoolVar(&o.sync.rules.Delete, "delete", false, "remove what the source does not have (only inside DST)")
	f.BoolVarP(&o.sync.rules.Checksum, "checksum", "c", false, "compare files by BLAKE3 digest instead of size and modification time")
	f.StringArrayVar(&o.sync.rules.Exclude, "exclude", nil, "leave names matching PATTERN alone (repeatable; * ? [..] per component, or a path with /)")
	f.BoolVarP(&o.sync.dry, "dry-run", "n", false, "list what would be sent and removed, change nothing")
	o.fan.registerAs(cmd, "exclude-host")
	return cmd
}

// syncUpOver is sync's upload over a connection to dst's host: each
// source is compared with its place under dst and what differs is sent.
func (o *cpOpts) syncUpOver(ctx context.Context, c *client.Conn, srcs []client.Operand, dst client.Operand, rep *cpReport) error {
	st, err := c.Stat(ctx, dst.Path)
	var fe *transfer.FileError
	exists := err == nil
	if err != nil && (!errors.As(err, &fe) || fe.Code != protocol.CodeNotFound) {
		return rep.fileOrFatal(err)
	}
	isDir := exists && st.Kind == protocol.KindDir
	for _, src := range srcs {
		fi, err := os.Stat(src.Path)
		if err != nil {
			rep.fail(transfer.NewFileError(src.Path, errors.New(transfer.Reason(err))))
			continue
		}
		contents := fi.IsDir() && strings.HasSuffix(src.Path, "/")
		name, nerr := client.SourceName(src.Path)
		var base, root string
		switch {
		case isDir && contents:
			base = dst.Path
		case isDir:
			base, root = dst.Path, name
		case exists && fi.IsDir():
			rep.fail(fmt.Errorf("%s:%s: not a directory", c.Target().Host, dst.Path))
			continue
		default:
			base, root = remoteDir(dst.Path), path.Base(strings.TrimSuffix(dst.Path, "/"))
			if fi.IsDir() && !contents {
				root += "/" + name
			}
		}
		if root != "" && nerr != nil && (isDir || fi.IsDir() && !contents) {
			rep.fail(nerr)
			continue
		}
		where := c.Target().Host + ":" + path.Join(base, root)
		opts, bar := rep.treeOptions(o, where)
		failed := rep.failed
		sum, err := c.SyncUp(ctx, src.Path, base, root, o.sync.rules, o.sync.dry, opts)
		bar.end(err == nil && rep.failed == failed)
		rep.synced(sum, where, true)
		if err := rep.fileOrFatal(err); err != nil {
			return err
		}
	}
	return nil
}

// remoteDir is the directory part of a remote path ("" for the home).
func remoteDir(p string) string {
	d := path.Dir(strings.TrimSuffix(p, "/"))
	if d == "." {
		return ""
	}
	return d
}

// syncDown is sync's download of one remote directory (or file) into dst.
func (o *cpOpts) syncDown(ctx context.Context, c *client.Conn, src client.Operand, dst string, rep *cpReport) error {
	stat := c.Stat
	if o.sync.rules.Checksum {
		stat = c.StatDigest
	}
	st, err := stat(ctx, src.Path)
	if err != nil {
		return rep.fileOrFatal(err)
	}
	shown := c.Target().Host + ":" + src.Path
	switch {
	case st.Kind == protocol.KindFile && strings.HasSuffix(src.Path, "/"):
		rep.fail(fmt.Errorf("%s: not a directory", shown))
		return nil
	case st.Kind == protocol.KindFile:
		return o.syncDownFile(ctx, c, src, st, dst, rep)
	case st.Kind != protocol.KindDir:
		rep.fail(fmt.Errorf("%s: is a %s, neither a directory nor a file", shown, st.Kind))
		return nil
	}
	if fi, err := os.Stat(dst); errors.Is(err, os.ErrNotExist) && !o.sync.dry {
		if err := os.Mkdir(dst, 0o755); err != nil {
			rep.fail(transfer.NewFileError(dst, errors.New(transfer.Reason(err))))
			return nil
		}
	} else if err == nil && !fi.IsDir() {
		rep.fail(fmt.Errorf("%s: not a directory", dst))
		return nil
	}
	dir, top := filepath.Dir(filepath.Clean(dst)), filepath.Base(filepath.Clean(dst))
	if !strings.HasSuffix(src.Path, "/") {
		name, ok := client.RequestedName(src.Path)
		if !ok || transfer.CheckName(name) != nil {
			rep.fail(fmt.Errorf("%s: has no name to sync it under; add a trailing / to sync its contents", shown))
			return nil
		}
		dir, top = filepath.Clean(dst), name
	}
	opts, bar := rep.treeOptions(o, filepath.Join(dir, top))
	failed := rep.failed
	sum, err := c.SyncDown(ctx, src.Path, dir, top, o.sync.rules, o.sync.dry, opts)
	bar.end(err == nil && rep.failed == failed)
	rep.synced(sum, filepath.Join(dir, top), false)
	return rep.fileOrFatal(err)
}

// syncDownFile is sync's download of one remote file, as rsync places
// it: into dst when dst is a directory (made first when dst ends in /),
// else as dst.
func (o *cpOpts) syncDownFile(ctx context.Context, c *client.Conn, src client.Operand, st protocol.StatResult,
	dst string, rep *cpReport) error {
	dir, top := filepath.Dir(filepath.Clean(dst)), filepath.Base(filepath.Clean(dst))
	fi, err := os.Stat(dst)
	into := err == nil && fi.IsDir()
	if errors.Is(err, os.ErrNotExist) && strings.HasSuffix(dst, "/") {
		if !o.sync.dry {
			if err := os.Mkdir(dst, 0o755); err != nil {
				rep.fail(transfer.NewFileError(dst, errors.New(transfer.Reason(err))))
				return nil
			}
		}
		into = true
	}
	if into {
		name, ok := client.RequestedName(src.Path)
		if !ok || transfer.CheckName(name) != nil {
			rep.fail(fmt.Errorf("%s:%s: has no name to sync it under; name the local file", c.Target().Host, src.Path))
			return nil
		}
		dir, top = filepath.Clean(dst), name
	}
	if transfer.CheckName(top) != nil || strings.Contains(top, "/") {
		rep.fail(fmt.Errorf("%s: cannot sync a file as this name", dst))
		return nil
	}
	opts, bar := rep.treeOptions(o, filepath.Join(dir, top))
	failed := rep.failed
	sum, err := c.SyncDownFile(ctx, src.Path, st, dir, top, o.sync.rules, o.sync.dry, opts)
	bar.end(err == nil && rep.failed == failed)
	rep.synced(sum, filepath.Join(dir, top), false)
	return rep.fileOrFatal(err)
}

// synced reports one sync: with -n its plan, then (unless -q) the summary.
func (r *cpReport) synced(s client.SyncSummary, where string, up bool) {
	if r.dry {
		for _, n := range s.Plan.Remove {
			fmt.Fprintf(r.stdout, "delete %s\n", protocol.Printable(joinShown(where, n)))
		}
		for _, e := range s.Plan.Send {
			if e.Kind != protocol.KindDir {
				fmt.Fprintf(r.stdout, "send %s\n", protocol.Printable(joinShown(where, e.Name)))
			}
		}
	}
	r.sum.Entries += s.Entries
	r.sum.Bytes += s.CopySummary.Bytes
	if r.quiet {
		return
	}
	verb := "sent"
	if r.dry {
		verb = "would send"
	}
	files := "files"
	if s.Files == 1 {
		files = "file"
	}
	fmt.Fprintf(r.out, "%s%s: %s %d %s (%d bytes), %d bytes on the wire, %d removed\n", r.prefix,
		protocol.Printable(where), verb, s.Files, files, s.Bytes, s.CopySummary.Bytes, s.Removed)
}

func joinShown(where, name string) string {
	if name == "." {
		return where
	}
	return where + "/" + name
}
