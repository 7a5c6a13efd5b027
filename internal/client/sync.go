package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transfer"
)

// List fetches the manifest of the server directory dir (PROTOCOL.md
// §8.11): its entries by name relative to it. A directory that does not
// exist is an empty manifest and ok false. Every name is checked
// (transfer.CheckName): a manifest decides what a sync deletes.
func (c *Conn) List(ctx context.Context, dir string, checksum bool) (map[string]protocol.Entry, bool, error) {
	stop := context.AfterFunc(ctx, func() { c.pc.Close() })
	defer stop()
	if err := c.pc.Send(protocol.List{Path: dir, Checksum: checksum}); err != nil {
		return nil, false, c.sendError("sending list", err)
	}
	out := map[string]protocol.Entry{}
	for {
		m, err := c.recv()
		if err != nil {
			return nil, false, err
		}
		switch m := m.(type) {
		case protocol.Data:
			if m.Stream != protocol.TypeListing {
				return nil, false, c.unexpected(m)
			}
			err := transfer.ParseListing(m.Body, func(e protocol.Entry) error {
				if _, dup := out[e.Name]; dup || len(out) >= maxListed {
					return fmt.Errorf("%w: listing repeats %q or holds over %d entries", transfer.ErrProtocol, e.Name, maxListed)
				}
				out[e.Name] = e
				return nil
			})
			if err != nil {
				c.pc.Close()
				return nil, false, newError(outcome.ProtocolError, c.target.String(), err)
			}
		case protocol.ListEnd:
			return out, true, nil
		case protocol.Error:
			if protocol.Fatal(m.Code) {
				return nil, false, c.remoteError(m)
			}
			if m.Code == protocol.CodeNotFound {
				return out, false, nil
			}
			return nil, false, c.remoteFileError(m)
		default:
			return nil, false, c.unexpected(m)
		}
	}
}

// maxListed bounds a manifest held in memory (the server's and the local
// one are each at most this many entries).
const maxListed = 4 << 20

// SyncSummary is what a sync did (or, dry, would do).
type SyncSummary struct {
	CopySummary
	Files   int   // files sent
	Bytes   int64 // their length
	Removed int   // items removed
	Plan    SyncPlan
}

// LocalManifest walks the local tree root (not following links below it)
// and returns its entries in post-order, named relative to root ("." for
// root itself), with their digests when checksum is set. Unreadable items
// go to fail.
func LocalManifest(root string, checksum bool, exclude []string, fail func(string, error)) ([]protocol.Entry, error) {
	var out []protocol.Entry
	err := transfer.Walk(root, true, func(name, local string, e protocol.Entry, err error) error {
		if Excluded(name, exclude) {
			return nil
		}
		if err == nil && e.Kind == protocol.KindFile {
			var fi os.FileInfo
			if fi, err = os.Lstat(local); err == nil {
				e.Length = fi.Size()
				if checksum {
					e.Digest, e.Length, err = transfer.FileDigest(local)
				}
			}
		}
		if err != nil {
			fail(local, err)
			return nil
		}
		if len(out) >= maxListed {
			return fmt.Errorf("%s: more than %d entries", root, maxListed)
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// SyncUp makes the server directory root (below base: "" when root is
// base itself, else a relative name) hold what the local path src holds,
// per the rules (PlanSync). With dry it only plans. Failures of single
// entries go to o.Done.
func (c *Conn) SyncUp(ctx context.Context, src, base, root string, r SyncRules, dry bool, o CopyOptions) (SyncSummary, error) {
	var sum SyncSummary
	target := base
	if root != "" {
		target = path.Join(base, root)
	}
	var dst map[string]protocol.Entry
	var exists bool
	if fi, err := os.Stat(src); err == nil && !fi.IsDir() {
		dst, err = c.statManifest(ctx, target, r.Checksum)
		if err != nil {
			return sum, err
		}
	} else if dst, exists, err = c.List(ctx, target, r.Checksum); err != nil {
		return sum, err
	}
	local, err := LocalManifest(src, r.Checksum, r.Exclude, func(name string, err error) {
		fe := &transfer.FileError{Name: name, Code: transfer.CodeOf(err), Err: errors.New(transfer.Reason(err))}
		sum.Failed++
		o.done(name, "", transfer.Result{}, fe)
	})
	if err != nil {
		return sum, err
	}
	if exists && len(local) > 0 && local[len(local)-1].Name == "." {
		dst["."] = local[len(local)-1] // the root is there: sent again only when dirty
	}
	plan := PlanSync(local, dst, r)
	sum.Plan, sum.Files, sum.Bytes, sum.Removed = plan, plan.Files, plan.Bytes, len(plan.Remove)
	if dry || (len(plan.Send) == 0 && len(plan.Remove) == 0) {
		return sum, nil
	}
	o.total(plan)
	wire := func(name string) string {
		switch {
		case name == ".":
			return root
		case root == "":
			return name
		}
		return root + "/" + name
	}
	var items []PutItem
	for _, e := range plan.Send {
		if e.Name == "." && root == "" {
			continue // base itself: not an entry of the upload
		}
		items = append(items, PutItem{Local: filepath.Join(src, filepath.FromSlash(e.Name)), Name: wire(e.Name)})
	}
	removals := make([]string, len(plan.Remove))
	for i, n := range plan.Remove {
		removals[i] = wire(n)
	}
	cs, err := c.PutEntries(ctx, base, items, removals, o)
	sum.CopySummary = cs
	return sum, err
}

// SyncDown makes the local directory dir/top hold what the server path
// src holds, per the rules (PlanSync); with dry it only plans. Removals
// are local and confined to dir/top (os.Root, no link followed, names
// from the local walk); what is fetched comes through Get's checks.
func (c *Conn) SyncDown(ctx context.Context, src, dir, top string, r SyncRules, dry bool, o CopyOptions) (SyncSummary, error) {
	var sum SyncSummary
	remote, ok, err := c.List(ctx, src, r.Checksum)
	if err != nil {
		return sum, err
	}
	if !ok {
		return sum, &transfer.FileError{Name: c.target.Host + ":" + src, Code: protocol.CodeNotFound,
			Err: fmt.Errorf("%s:%s: no such directory", c.target.Host, src)}
	}
	order := orderRemote(remote)
	local := map[string]protocol.Entry{}
	root := filepath.Join(dir, top)
	if fi, err := os.Lstat(root); err == nil && fi.IsDir() {
		entries, err := LocalManifest(root, r.Checksum, r.Exclude, func(string, error) {})
		if err != nil {
			return sum, err
		}
		for _, e := range entries {
			local[e.Name] = e
		}
	} else if err == nil {
		return sum, &transfer.FileError{Name: root, Code: protocol.CodeIO, Err: fmt.Errorf("%s: not a directory", root)}
	}
	plan := PlanSync(order, local, r)
	sum.Plan, sum.Files, sum.Bytes, sum.Removed = plan, plan.Files, plan.Bytes, len(plan.Remove)
	if dry || (len(plan.Send) == 0 && len(plan.Remove) == 0) {
		return sum, nil
	}
	o.total(plan)
	o.Total = nil // counted: the get need not count again
	if len(plan.Remove) > 0 {
		if err := removeLocal(dir, top, plan.Remove, o); err != nil {
			return sum, err
		}
	}
	var sel []string
	for _, e := range plan.Send {
		if e.Kind != protocol.KindDir {
			sel = append(sel, e.Name)
		}
	}
	o.Recursive, o.Select = true, sel
	if o.Select == nil {
		o.Select = []string{}
	}
	cs, err := c.Get(ctx, src, dir, top, o)
	sum.CopySummary = cs
	return sum, err
}

// SyncDownFile makes the local file dir/top hold the server's file src,
// whose stat (with its digest when r.Checksum) is st, as rsync does with
// a single file: it is fetched (Get, verified and renamed into place)
// unless the local file has the same size and modification time (with
// r.Checksum: the same file digest) and mode. A local directory there is
// a failure of the file; with dry it only plans.
func (c *Conn) SyncDownFile(ctx context.Context, src string, st protocol.StatResult, dir, top string, r SyncRules,
	dry bool, o CopyOptions) (SyncSummary, error) {
	var sum SyncSummary
	local := filepath.Join(dir, top)
	remote := protocol.Entry{Name: ".", Kind: protocol.KindFile, Length: st.Length, Mode: st.Mode,
		MtimeNS: st.MtimeNS, Digest: st.Digest}
	have := map[string]protocol.Entry{}
	fi, err := os.Lstat(local)
	switch {
	case err == nil && fi.IsDir():
		return sum, &transfer.FileError{Name: local, Code: protocol.CodeIO, Err: fmt.Errorf("%s: is a directory", local)}
	case err == nil && fi.Mode().IsRegular():
		e := protocol.Entry{Name: ".", Kind: protocol.KindFile, Length: fi.Size(), Mode: transfer.WireMode(fi.Mode()),
			MtimeNS: fi.ModTime().UnixNano()}
		if r.Checksum {
			if e.Digest, e.Length, err = transfer.FileDigest(local); err != nil {
				return sum, transfer.NewFileError(local, err)
			}
		}
		have["."] = e
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return sum, transfer.NewFileError(local, err)
	}
	plan := PlanSync([]protocol.Entry{remote}, have, SyncRules{Checksum: r.Checksum})
	sum.Plan, sum.Files, sum.Bytes = plan, plan.Files, plan.Bytes
	if dry || len(plan.Send) == 0 {
		return sum, nil
	}
	o.total(plan)
	o.Recursive, o.Select = false, nil
	cs, err := c.Get(ctx, src, dir, top, o)
	sum.CopySummary = cs
	return sum, err
}

// total tells o.Total what a sync's plan sends.
func (o CopyOptions) total(p SyncPlan) {
	if o.Total != nil {
		o.Total(p.Files, p.Bytes)
	}
}

// orderRemote puts a manifest in post-order (children before their
// directory, names sorted). The root is not in it: its own mode and time
// are not synced down.
func orderRemote(m map[string]protocol.Entry) []protocol.Entry {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sortPostOrder(names)
	out := make([]protocol.Entry, 0, len(names)+1)
	for _, n := range names {
		out = append(out, m[n])
	}
	return out
}

// sortPostOrder sorts slash-separated names so that a directory comes
// right after everything below it.
func sortPostOrder(names []string) {
	key := func(n string) string { return strings.ReplaceAll(n, "/", "\x00") + "\x01" }
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(key(a), key(b)) })
}

// removeLocal removes names (children first) below dir/top, confined
// there: an os.Root, and no link followed on the way (transfer.Receiver).
func removeLocal(dir, top string, names []string, o CopyOptions) error {
	rc, err := transfer.OpenReceiver(dir, top)
	if err != nil {
		return transfer.NewFileError(dir, err)
	}
	defer rc.Close()
	for _, n := range names {
		if err := rc.Remove(n); err != nil && !errors.Is(err, fs.ErrNotExist) {
			shown := filepath.Join(dir, top, n)
			o.done(shown, "", transfer.Result{}, &transfer.FileError{Name: shown, Code: transfer.CodeOf(err),
				Err: errors.New(transfer.Reason(err))})
		}
	}
	return nil
}

// statManifest is the manifest of a single remote file: its stat as the
// entry ".", with its file digest when checksum is set, or nothing when
// it does not exist.
func (c *Conn) statManifest(ctx context.Context, p string, checksum bool) (map[string]protocol.Entry, error) {
	stat := c.Stat
	if checksum {
		stat = c.StatDigest
	}
	st, err := stat(ctx, p)
	var fe *transfer.FileError
	switch {
	case errors.As(err, &fe) && fe.Code == protocol.CodeNotFound:
		return map[string]protocol.Entry{}, nil
	case err != nil:
		return nil, err
	case st.Kind != protocol.KindFile:
		return nil, &transfer.FileError{Name: c.target.Host + ":" + p, Code: protocol.CodeIO,
			Err: fmt.Errorf("%s:%s: is a %s, not a file", c.target.Host, p, st.Kind)}
	}
	return map[string]protocol.Entry{".": {Name: ".", Kind: protocol.KindFile, Length: st.Length,
		Mode: st.Mode, MtimeNS: st.MtimeNS, Digest: st.Digest}}, nil
}
