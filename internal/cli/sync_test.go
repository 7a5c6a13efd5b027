package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rexec-dev/rexec/internal/audit"
)

// inodes maps each regular file below root to its inode: a file sent again
// is renamed into place, so its inode changes.
func inodes(t *testing.T, root string) map[string]uint64 {
	t.Helper()
	m := map[string]uint64{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			m[p] = fi.Sys().(*syscall.Stat_t).Ino
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func changedFiles(before, after map[string]uint64) []string {
	var out []string
	for p, ino := range after {
		if before[p] != ino {
			out = append(out, p)
		}
	}
	return out
}

// serverBytes reads the daemon's file and stream byte counters from its
// /metrics (rexec_bytes_total, in and out).
func serverBytes(t *testing.T, d *daemon) (in, out int64) {
	t.Helper()
	body := metricsText(t, d)
	found := 0
	for _, line := range strings.Split(body, "\n") {
		for dir, v := range map[string]*int64{"in": &in, "out": &out} {
			if rest, ok := strings.CutPrefix(line, `rexec_bytes_total{direction="`+dir+`"} `); ok {
				n, err := strconv.ParseFloat(rest, 64)
				if err != nil {
					t.Fatalf("metrics line %q: %v", line, err)
				}
				*v = int64(n)
				found++
			}
		}
	}
	if found != 2 {
		t.Fatalf("rexec_bytes_total in and out not in /metrics:\n%s", body)
	}
	return in, out
}

// treeBytes is the size of the files below root.
func treeBytes(t *testing.T, root string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(root, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// auditedRequests returns the end records the audit log at path gained
// after its first skip lines: their kinds, and the file bytes they name.
func auditedRequests(t *testing.T, path string, skip int) (kinds []string, bytes int64, lines int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Split(strings.TrimSpace(string(b)), "\n")
	for _, line := range all[skip:] {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if r.Event == audit.EventEnd {
			kinds = append(kinds, r.Kind)
			bytes += r.BytesIn + r.BytesOut
		}
	}
	return kinds, bytes, len(all)
}

// TestSyncUpDown: sync sends a tree, then nothing when unchanged (the
// summary says 0 bytes, no file is replaced, and the server's own byte
// counters, /metrics and the audit log, do not move), then one changed
// file only; --delete removes extras inside DST and nothing outside; -n
// changes nothing; --exclude leaves names alone; the same in the other
// direction.
func TestSyncUpDown(t *testing.T) {
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	d := startDaemon(t, t.TempDir(), "--metrics", "127.0.0.1:0", "--audit-log", auditPath)
	dir := t.TempDir()
	src := filepath.Join(dir, "tree")
	makeTree(t, src)
	dst := filepath.Join(dir, "dst")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	first, _ := serverBytes(t, d)
	if r := rexec(t, d.Home, nil, "sync", "-P", d.Port(), src+"/", "localhost:"+dst); r.code != 0 {
		t.Fatalf("first sync = %d, stderr %q", r.code, r.stderr)
	}
	if in, _ := serverBytes(t, d); in-first < treeBytes(t, src) {
		t.Errorf("first sync: the server counted %d bytes in, the tree holds %d", in-first, treeBytes(t, src))
	}
	if msg := sameTree(t, src, dst); msg != "" {
		t.Fatalf("after the first sync: %s", msg)
	}
	before := inodes(t, dst)
	in0, out0 := serverBytes(t, d)
	_, _, seen := auditedRequests(t, auditPath, 0)
	r := rexec(t, d.Home, nil, "sync", "-P", d.Port(), src+"/", "localhost:"+dst)
	if r.code != 0 || !strings.Contains(r.stderr, "sent 0 files (0 bytes), 0 bytes on the wire, 0 removed") {
		t.Fatalf("unchanged sync = %d, stderr %q; want a summary of nothing sent", r.code, r.stderr)
	}
	if c := changedFiles(before, inodes(t, dst)); len(c) != 0 {
		t.Fatalf("unchanged sync replaced %v", c)
	}
	if in, out := serverBytes(t, d); in != in0 || out != out0 {
		t.Errorf("unchanged sync: the server counted %d bytes in and %d out", in-in0, out-out0)
	}
	kinds, n, _ := auditedRequests(t, auditPath, seen)
	if n != 0 || !slices.Contains(kinds, "list") || slices.Contains(kinds, "put_tree") {
		t.Errorf("unchanged sync: audited requests %v with %d file bytes; want a list and no upload", kinds, n)
	}
	// One changed file: that file only.
	writeText(t, filepath.Join(src, "d01/e1/f0001"), "changed")
	r = rexec(t, d.Home, nil, "sync", "-P", d.Port(), src+"/", "localhost:"+dst)
	if r.code != 0 || !strings.Contains(r.stderr, "sent 1 file (7 bytes)") {
		t.Fatalf("sync of one change = %d, stderr %q", r.code, r.stderr)
	}
	if c := changedFiles(before, inodes(t, dst)); len(c) != 1 || !strings.HasSuffix(c[0], "d01/e1/f0001") {
		t.Fatalf("sync of one change replaced %v", c)
	}
	// Extras: -n lists and changes nothing; --exclude spares; --delete
	// removes inside DST only.
	outside := filepath.Join(dir, "outside")
	writeText(t, outside, "keep me")
	writeText(t, filepath.Join(dst, "extra"), "x")
	writeText(t, filepath.Join(dst, "d02", "extra.log"), "x")
	writeText(t, filepath.Join(dst, "keep.tmp"), "x")
	if err := os.Symlink(dir, filepath.Join(dst, "escape")); err != nil {
		t.Fatal(err)
	}
	snap := listing(t, dst)
	r = rexec(t, d.Home, nil, "sync", "-P", d.Port(), "-n", "--delete", "--exclude", "*.tmp", src+"/", "localhost:"+dst)
	if r.code != 0 || !strings.Contains(r.stdout, "delete localhost:"+dst+"/extra\n") ||
		strings.Contains(r.stdout, "keep.tmp") {
		t.Fatalf("dry run = %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if listing(t, dst) != snap {
		t.Fatal("--dry-run changed the destination")
	}
	r = rexec(t, d.Home, nil, "sync", "-P", d.Port(), "--delete", "--exclude", "*.tmp", src+"/", "localhost:"+dst)
	if r.code != 0 {
		t.Fatalf("--delete = %d, stderr %q", r.code, r.stderr)
	}
	for p, want := range map[string]bool{"extra": false, "d02/extra.log": false, "escape": false, "keep.tmp": true} {
		if _, err := os.Lstat(filepath.Join(dst, p)); (err == nil) != want {
			t.Errorf("after --delete, %s exists = %v, want %v", p, err == nil, want)
		}
	}
	if b, err := os.ReadFile(outside); err != nil || string(b) != "keep me" {
		t.Errorf("--delete touched a file outside DST: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tree")); err != nil {
		t.Errorf("--delete through a link: %v", err)
	}
	os.Remove(filepath.Join(dst, "keep.tmp"))
	if msg := sameTree(t, src, dst); msg != "" {
		t.Fatalf("after --delete: %s", msg)
	}
	// The other direction.
	down := filepath.Join(dir, "down")
	if r := rexec(t, d.Home, nil, "sync", "-P", d.Port(), "localhost:"+src+"/", down); r.code != 0 {
		t.Fatalf("sync down = %d, stderr %q", r.code, r.stderr)
	}
	if msg := sameTree(t, src, down); msg != "" {
		t.Fatalf("after sync down: %s", msg)
	}
	before = inodes(t, down)
	in0, out0 = serverBytes(t, d)
	_, _, seen = auditedRequests(t, auditPath, 0)
	r = rexec(t, d.Home, nil, "sync", "-P", d.Port(), "localhost:"+src+"/", down)
	if r.code != 0 || !strings.Contains(r.stderr, "sent 0 files (0 bytes), 0 bytes on the wire, 0 removed") {
		t.Fatalf("unchanged sync down = %d, stderr %q", r.code, r.stderr)
	}
	if in, out := serverBytes(t, d); in != in0 || out != out0 {
		t.Errorf("unchanged sync down: the server counted %d bytes in and %d out", in-in0, out-out0)
	}
	if kinds, n, _ := auditedRequests(t, auditPath, seen); n != 0 || !slices.Equal(kinds, []string{"stat", "list"}) {
		t.Errorf("unchanged sync down: audited requests %v with %d file bytes; want a stat and a list", kinds, n)
	}
	// A stray local file: removed, and the directories' times put back
	// (a selective get of no file), still without a byte of content.
	writeText(t, filepath.Join(down, "stray"), "x")
	in0, out0 = serverBytes(t, d)
	r = rexec(t, d.Home, nil, "sync", "-P", d.Port(), "--delete", "localhost:"+src+"/", down)
	if r.code != 0 || !strings.Contains(r.stderr, "sent 0 files (0 bytes), 0 bytes on the wire, 1 removed") {
		t.Fatalf("sync down --delete = %d, stderr %q", r.code, r.stderr)
	}
	if in, out := serverBytes(t, d); in != in0 || out != out0 {
		t.Errorf("sync down --delete of a stray: the server counted %d bytes in and %d out", in-in0, out-out0)
	}
	if msg := sameTree(t, src, down); msg != "" {
		t.Errorf("after sync down --delete: %s", msg)
	}
	if c := changedFiles(before, inodes(t, down)); len(c) != 0 {
		t.Fatalf("unchanged sync down replaced %v", c)
	}
	if _, err := os.Lstat(filepath.Join(down, "stray")); err == nil {
		t.Error("--delete down left the stray file")
	}
}

// sameFile fails unless got has want's content, mode and modification time.
func sameFile(t *testing.T, want, got string) {
	t.Helper()
	wi, err1 := os.Stat(want)
	gi, err2 := os.Stat(got)
	if err1 != nil || err2 != nil {
		t.Fatalf("stat %s, %s: %v, %v", want, got, err1, err2)
	}
	if fileSHA(t, want) != fileSHA(t, got) || wi.Mode() != gi.Mode() || !wi.ModTime().Equal(gi.ModTime()) {
		t.Fatalf("%s is not a copy of %s: %v %v, want %v %v", got, want, gi.Mode(), gi.ModTime(), wi.Mode(), wi.ModTime())
	}
}

// sameSizeAndTime rewrites path with other content of the same size and
// puts its modification time back: only a checksum sees the change.
func sameSizeAndTime(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if err := os.WriteFile(path, b, fi.Mode()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// TestSyncSingleFile: a single file syncs as rsync syncs it, both ways.
// Up, --checksum compares digests (the server's stat carries one), so an
// unchanged file is not sent again and a change that keeps size and time
// is; down, a remote file goes as the local name, into a directory, or
// into a directory made for it (DST/), and is not fetched again while it
// is unchanged; a remote file with a trailing / is refused.
func TestSyncSingleFile(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	dir := t.TempDir()
	src := filepath.Join(dir, "f.bin")
	writeRandom(t, src, 100000, 3)
	sync := func(args ...string) result {
		t.Helper()
		r := rexec(t, d.Home, nil, append([]string{"sync", "-P", d.Port()}, args...)...)
		if r.code != 0 {
			t.Fatalf("sync %v = %d, stderr %q", args, r.code, r.stderr)
		}
		return r
	}
	sent := func(r result, n int) {
		t.Helper()
		want := fmt.Sprintf("sent %d file", n)
		if !strings.Contains(r.stderr, want) {
			t.Fatalf("stderr %q, want %q", r.stderr, want)
		}
	}
	// Up.
	up := filepath.Join(dir, "up.bin")
	sent(sync("-c", src, remote(up)), 1)
	sameFile(t, src, up)
	sent(sync("-c", src, remote(up)), 0)
	sameSizeAndTime(t, src)
	sent(sync(src, remote(up)), 0) // size and time alone miss it, as rsync's do
	sent(sync("-c", src, remote(up)), 1)
	sameFile(t, src, up)
	// Down: as a name, into a directory, into a directory made for it.
	down := filepath.Join(dir, "down.bin")
	sent(sync(remote(src), down), 1)
	sameFile(t, src, down)
	sent(sync(remote(src), down), 0)
	sent(sync("-c", remote(src), down), 0)
	sameSizeAndTime(t, src)
	sent(sync(remote(src), down), 0)
	sent(sync("-c", remote(src), down), 1)
	sameFile(t, src, down)
	into := filepath.Join(dir, "into")
	if err := os.Mkdir(into, 0o755); err != nil {
		t.Fatal(err)
	}
	sent(sync(remote(src), into), 1)
	sameFile(t, src, filepath.Join(into, "f.bin"))
	sent(sync(remote(src), filepath.Join(dir, "made")+"/"), 1)
	sameFile(t, src, filepath.Join(dir, "made", "f.bin"))
	if r := rexec(t, d.Home, nil, "sync", "-P", d.Port(), remote(src)+"/", filepath.Join(dir, "x")); r.code != 1 ||
		!strings.Contains(r.stderr, "not a directory") {
		t.Errorf("sync of a file with a trailing / = %d, stderr %q; want 1 and not a directory", r.code, r.stderr)
	}
	if left := tempFilesIn(t, dir); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestSyncNewDestination: sync SRC HOST:NEW makes NEW/SRC, and NEW, made
// for it with no entry of its own, gets a new directory's mode (0755, the
// daemon's create mask being empty), not the 0700 that keeps a directory
// private while its tree arrives.
func TestSyncNewDestination(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	dir := t.TempDir()
	src := filepath.Join(dir, "site")
	makeSmallTree(t, src)
	dst := filepath.Join(dir, "new", "deeper")
	if err := os.Mkdir(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if r := rexec(t, d.Home, nil, "sync", "-P", d.Port(), src, remote(dst)); r.code != 0 {
		t.Fatalf("sync into a new destination = %d, stderr %q", r.code, r.stderr)
	}
	fi, err := os.Stat(dst)
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("new destination %s: %v, %v; want a directory with mode 0755", dst, fi, err)
	}
	if msg := sameTree(t, src, filepath.Join(dst, "site")); msg != "" {
		t.Fatal(msg)
	}
}
