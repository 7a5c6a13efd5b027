//go:build linux

package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/faultproxy"
	"github.com/rexec-dev/rexec/internal/rexectest"
	"github.com/rexec-dev/rexec/internal/server"
	"github.com/rexec-dev/rexec/internal/transfer"
)

// Every damaged tree transfer carries a tree of its own: treeSmall small
// files (batched, one of them empty) in two directories, one file of
// treeLarge bytes (a stream of its own between the batches, resumable),
// a link and an empty directory.
const (
	treeSmall = 12
	treeLarge = 300 << 10
)

// treeOp is one way a tree crosses a connection.
type treeOp struct {
	name    string
	up      bool // the server receives
	deletes bool // what the source lacks is removed (sync --delete)
	// act copies tree i from src to dst (the one on the server given as
	// a server path) with resume as asked.
	act func(ctx context.Context, c *client.Conn, src, dst string, resume bool) error
}

// firstFailure is a Done hook that keeps the first failure of an entry.
func firstFailure(err *error) func(string, string, transfer.Result, error) {
	var mu sync.Mutex
	return func(_, _ string, _ transfer.Result, e error) {
		mu.Lock()
		defer mu.Unlock()
		if e != nil && *err == nil {
			*err = e
		}
	}
}

var treeOps = []treeOp{
	{name: "put_tree", up: true, act: func(ctx context.Context, c *client.Conn, src, dst string, resume bool) error {
		var ferr error
		_, err := c.Put(ctx, filepath.Dir(dst), []client.PutItem{{Local: src, Name: filepath.Base(dst)}},
			client.CopyOptions{Recursive: true, Resume: resume, Done: firstFailure(&ferr)})
		return errors.Join(err, ferr)
	}},
	{name: "get", act: func(ctx context.Context, c *client.Conn, src, dst string, resume bool) error {
		var ferr error
		_, err := c.Get(ctx, src, filepath.Dir(dst), filepath.Base(dst),
			client.CopyOptions{Recursive: true, Resume: resume, Done: firstFailure(&ferr)})
		return errors.Join(err, ferr)
	}},
	{name: "sync_up", up: true, deletes: true, act: func(ctx context.Context, c *client.Conn, src, dst string, resume bool) error {
		var ferr error
		_, err := c.SyncUp(ctx, src, dst, "", client.SyncRules{Delete: true}, false,
			client.CopyOptions{Recursive: true, Resume: resume, Done: firstFailure(&ferr)})
		return errors.Join(err, ferr)
	}},
	{name: "sync_down", deletes: true, act: func(ctx context.Context, c *client.Conn, src, dst string, resume bool) error {
		var ferr error
		_, err := c.SyncDown(ctx, src, filepath.Dir(dst), filepath.Base(dst), client.SyncRules{Delete: true}, false,
			client.CopyOptions{Recursive: true, Resume: resume, Done: firstFailure(&ferr)})
		return errors.Join(err, ferr)
	}},
}

// treeFaultLimit bounds one damaged tree transfer, as faultyGetLimit
// bounds a download: a faithful one takes milliseconds.
const treeFaultLimit = 3 * time.Second

// TestTreeFaults runs tree transfers (a tree upload, a batched download,
// sync in both directions with --delete) through connections that are
// cut at a random byte, have one random bit flipped, or have two adjacent
// segments swapped, in either direction, anywhere in the conversation;
// half of the destinations already hold an older version of the tree
// (the same names, other content, an extra file for --delete). It
// proves, for the receiver of each (the server up, the client down):
//
//   - every path of the destination holds its old version (or nothing,
//     when it had none) or exactly its new one: a damaged batch or stream
//     never commits a damaged file, link or directory;
//   - a transfer the client reports as complete left the destination
//     identical to the source;
//   - nothing else is left there but the large file's partial file (a
//     prefix of it, kept for --resume): a batch cut short leaves no
//     temporary file;
//   - each destination then becomes identical to its source with one
//     faithful transfer with resume, and no temporary file is left;
//
// and, once every connection is over, no goroutine or descriptor is left.
// The faults are seeded and logged (REXEC_RELIABILITY_SEED).
func TestTreeFaults(t *testing.T) {
	for _, op := range treeOps {
		for _, kind := range []faultproxy.Kind{faultproxy.Cut, faultproxy.Flip, faultproxy.Reorder} {
			t.Run(op.name+"/"+kind.String(), func(t *testing.T) { testTreeFaults(t, op, kind) })
		}
	}
}

func testTreeFaults(t *testing.T, op treeOp, kind faultproxy.Kind) {
	n := runs(6, 12, 200)
	rng := newRand(t)
	e := startEnv(t, server.Config{})
	tr := trees{local: t.TempDir(), remote: t.TempDir(), up: op.up, deletes: op.deletes}
	for i := -1; i < n; i++ {
		tr.setUp(t, i)
	}
	base, err := e.through(faultproxy.Plan{Record: true}, tr.act(op, -1, false))
	if err != nil || base.err != nil {
		t.Fatalf("faithful %s: %v, %v", op.name, err, base.err)
	}
	if msg := tr.identical(-1); msg != "" {
		t.Fatalf("faithful %s: %s", op.name, msg)
	}
	ends := [2][]int64{recordEnds(base.link.Recorded(faultproxy.Up)), recordEnds(base.link.Recorded(faultproxy.Down))}
	before := quiet(t)

	faults := make([]faultproxy.Fault, n)
	for i := range faults {
		f := faultproxy.Fault{Kind: kind, Dir: faultproxy.Direction(rng.IntN(2)), Bit: uint8(rng.IntN(8))}
		total := base.runUp
		if f.Dir == faultproxy.Down {
			total = base.runDown
		}
		f.At = rng.Int64N(total)
		if kind == faultproxy.Reorder {
			f.Len = 1 + rng.Int64N(maxReorderLen)
			if i%3 == 0 {
				f.At, f.Len = wholeRecord(ends[f.Dir], 0, rng)
			}
		}
		faults[i] = f
	}
	e.limit = treeFaultLimit
	start := time.Now()
	results := make([]*proxied, n)
	rexectest.Parallel(n, flipWorkers, func(i int) {
		r, err := e.through(faultproxy.Plan{Faults: []faultproxy.Fault{faults[i]}}, tr.act(op, i, false))
		if err != nil {
			t.Errorf("%s %d (%v): %v", op.name, i, faults[i], err)
			return
		}
		results[i] = r
	})
	elapsed := time.Since(start)
	e.checkSettled(t, before)

	var fired, succeeded, complete, mixed, partials, bad int
	var redo []int
	for i, r := range results {
		if r == nil {
			continue
		}
		if len(r.link.Fired()) > 0 {
			fired++
		}
		msgs, newer := tr.check(t, i, r.err)
		for _, m := range msgs {
			if bad++; bad <= 20 {
				t.Errorf("%s %d (%v, client: %v): %s", op.name, i, faults[i], r.err, m)
			}
		}
		if r.err == nil {
			succeeded++
		}
		if tr.identical(i) == "" {
			complete++
		} else {
			redo = append(redo, i)
			if newer > 0 {
				mixed++
			}
		}
		partials += len(tr.temps(i))
	}
	t.Logf("%d %s transfers, %s, in %v (%d workers): %d faults applied; %d client successes, %d destinations "+
		"complete, %d with some paths new and the others old; %d partial files kept for --resume",
		n, op.name, kind, elapsed.Round(time.Millisecond), flipWorkers, fired, succeeded, complete, mixed, partials)

	// Every destination left incomplete becomes the tree with one faithful
	// transfer with resume.
	e.limit = 0
	var mu sync.Mutex
	rexectest.Parallel(len(redo), flipWorkers, func(k int) {
		i := redo[k]
		r, err := e.through(faultproxy.Plan{}, tr.act(op, i, true))
		if err == nil {
			err = r.err
		}
		msg := tr.identical(i)
		if msg == "" && len(tr.temps(i)) > 0 {
			msg = fmt.Sprintf("temporary files left: %v", tr.temps(i))
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			t.Errorf("%s %d: the transfer with resume: %v", op.name, i, err)
		case msg != "":
			t.Errorf("%s %d: after the transfer with resume: %s", op.name, i, msg)
		}
	})
	e.checkSettled(t, before)
	t.Logf("%d incomplete destinations completed by a transfer with resume", len(redo))
}

// trees lays out the trees of one test: tree I's source, its old version
// (for even I) and its destination, on the client (local) or the server
// (remote) as the direction says.
type trees struct {
	local, remote string
	up            bool
	deletes       bool // what only the old version has goes (sync --delete)
}

// paths of tree i: src and dst as the transfer names them, and where old
// is kept.
func (tr trees) paths(i int) (src, dst, old string) {
	name := strconv.Itoa(i)
	from, to := tr.local, tr.remote
	if !tr.up {
		from, to = to, from
	}
	return filepath.Join(from, "src-"+name), filepath.Join(to, "dst-"+name), filepath.Join(from, "old-"+name)
}

// setUp writes tree i's source and, for even i, its old version at the
// destination (and a copy of it to compare with); a sync's destination
// exists in any case.
func (tr trees) setUp(t *testing.T, i int) {
	t.Helper()
	src, dst, old := tr.paths(i)
	writeTreeVersion(t, src, i, 2)
	if i%2 == 0 {
		writeTreeVersion(t, dst, i, 1)
		writeTreeVersion(t, old, i, 1)
	} else if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
}

// act is the transfer of tree i.
func (tr trees) act(op treeOp, i int, resume bool) func(context.Context, context.CancelFunc, *client.Conn) error {
	src, dst, _ := tr.paths(i)
	return func(ctx context.Context, _ context.CancelFunc, c *client.Conn) error {
		return op.act(ctx, c, src, dst, resume)
	}
}

// writeTreeVersion writes version v of tree i under root. The two
// versions share their names but for one file only the old one has.
func writeTreeVersion(t *testing.T, root string, i, v int) {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(i+2), uint64(v)))
	mtime := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(v)*time.Hour + time.Duration(i)*time.Nanosecond)
	write := func(name string, b []byte, mode os.FileMode) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	for k := range treeSmall {
		size := 1 + r.IntN(3000)
		if k == 0 {
			size = 0
		}
		write(fmt.Sprintf("d%d/f%02d", k%2, k), randomBytes(uint64(i+2)*100+uint64(k), uint64(v), size), 0o644)
	}
	write("big/large", randomBytes(uint64(i+2), uint64(v)+10, treeLarge-v*1000), 0o640)
	if v == 1 {
		write("d0/only-old", []byte("old"), 0o600)
	}
	if err := os.Symlink(fmt.Sprintf("d%d/f01", v%2), filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "empty"), 0o750); err != nil {
		t.Fatal(err)
	}
}

// describe is what a path holds: a file's mode, time and content, a
// link's target, a directory, or "absent".
func describe(p string) string {
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "absent"
	case err != nil:
		return err.Error()
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(p)
		return "link " + target
	case fi.IsDir():
		return "dir"
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("file %v %d %x", fi.Mode(), fi.ModTime().UnixNano(), b)
}

// names lists the paths below root, relative to it.
func names(root string) []string {
	var out []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != root {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// isTemp reports whether a name is one of rexec's temporary files.
func isTemp(name string) bool {
	base := filepath.Base(name)
	return strings.Contains(base, ".rexec-part-") || strings.Contains(base, ".rexec-link-")
}

// identical reports how tree i's destination differs from its source
// (where nothing is deleted, what only the old version has stays).
func (tr trees) identical(i int) string {
	src, dst, old := tr.paths(i)
	want, got := names(src), names(dst)
	got = slices.DeleteFunc(got, isTemp)
	if !tr.deletes && i%2 == 0 {
		got = slices.DeleteFunc(got, func(n string) bool {
			_, err := os.Lstat(filepath.Join(src, n))
			return errors.Is(err, fs.ErrNotExist) && describe(filepath.Join(old, n)) != "absent"
		})
	}
	if !slices.Equal(want, got) {
		return fmt.Sprintf("names %q, want %q", got, want)
	}
	for _, name := range want {
		if w, g := describe(filepath.Join(src, name)), describe(filepath.Join(dst, name)); w != g {
			return fmt.Sprintf("%s holds %.80s, want %.80s", name, g, w)
		}
	}
	return ""
}

// temps lists the temporary files in tree i's destination.
func (tr trees) temps(i int) []string {
	_, dst, _ := tr.paths(i)
	return slices.DeleteFunc(names(dst), func(n string) bool { return !isTemp(n) })
}

// check applies TestTreeFaults' rules to tree i after a transfer that
// ended with err, and returns what breaks them and how many paths hold
// their new version where it differs from the old.
func (tr trees) check(t *testing.T, i int, err error) (msgs []string, newer int) {
	t.Helper()
	src, dst, old := tr.paths(i)
	if err == nil {
		if msg := tr.identical(i); msg != "" {
			msgs = append(msgs, "the client reported success: "+msg)
		}
	}
	allowed := map[string]bool{}
	for _, name := range names(src) {
		allowed[name] = true
		got := describe(filepath.Join(dst, name))
		want := describe(filepath.Join(src, name))
		older := "absent"
		if i%2 == 0 {
			older = describe(filepath.Join(old, name))
		}
		switch {
		case got == want && got != older:
			newer++
		case got == older, got == "dir" && want == "dir":
		default:
			msgs = append(msgs, fmt.Sprintf("%s holds %.80s: neither the old %.80s nor the new %.80s", name, got, older, want))
		}
	}
	if i%2 == 0 {
		for _, name := range names(old) {
			if !allowed[name] {
				allowed[name] = true
				if got := describe(filepath.Join(dst, name)); got != "absent" && got != describe(filepath.Join(old, name)) {
					msgs = append(msgs, fmt.Sprintf("%s, only in the old version, holds %.80s", name, got))
				}
			}
		}
	}
	for _, name := range names(dst) {
		switch {
		case allowed[name]:
		case isTemp(name) && transfer.IsPartName(filepath.Base(name)) && strings.HasPrefix(filepath.Base(name), ".large."):
			b, _ := os.ReadFile(filepath.Join(dst, name))
			want, _ := os.ReadFile(filepath.Join(src, "big", "large"))
			if !bytes.HasPrefix(want, b) {
				msgs = append(msgs, fmt.Sprintf("partial file %s holds %d bytes that are not a prefix of the file", name, len(b)))
			}
		default:
			msgs = append(msgs, fmt.Sprintf("%s is neither in the tree nor the large file's partial file", name))
		}
	}
	return msgs, newer
}
