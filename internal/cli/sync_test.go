package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
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

// TestSyncUpDown: sync sends a tree, then nothing when unchanged (the
// summary says 0 bytes and no file is replaced), then one changed file
// only; --delete removes extras inside DST and nothing outside; -n changes
// nothing; --exclude leaves names alone; the same in the other direction.
func TestSyncUpDown(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	dir := t.TempDir()
	src := filepath.Join(dir, "tree")
	makeTree(t, src)
	dst := filepath.Join(dir, "dst")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if r := rexec(t, d.Home, nil, "sync", "-P", d.Port(), src+"/", "localhost:"+dst); r.code != 0 {
		t.Fatalf("first sync = %d, stderr %q", r.code, r.stderr)
	}
	if msg := sameTree(t, src, dst); msg != "" {
		t.Fatalf("after the first sync: %s", msg)
	}
	before := inodes(t, dst)
	r := rexec(t, d.Home, nil, "sync", "-P", d.Port(), src+"/", "localhost:"+dst)
	if r.code != 0 || !strings.Contains(r.stderr, "sent 0 files (0 bytes), 0 bytes on the wire, 0 removed") {
		t.Fatalf("unchanged sync = %d, stderr %q; want a summary of nothing sent", r.code, r.stderr)
	}
	if c := changedFiles(before, inodes(t, dst)); len(c) != 0 {
		t.Fatalf("unchanged sync replaced %v", c)
	}
	// One changed file: that file only.
	writeText(t, filepath.Join(src, "d01/e1/f0001"), "changed")
	r = rexec(t, d.Home, nil, "sync", "-P", d.Port(), src+"/", "localhost:"+dst)
	if r.code != 0 || !strings.Contains(r.stderr, "sent 1 files (7 bytes)") {
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
	writeText(t, filepath.Join(down, "stray"), "x")
	r = rexec(t, d.Home, nil, "sync", "-P", d.Port(), "--delete", "localhost:"+src+"/", down)
	if r.code != 0 || !strings.Contains(r.stderr, "sent 0 files (0 bytes), 0 bytes on the wire, 1 removed") {
		t.Fatalf("unchanged sync down = %d, stderr %q", r.code, r.stderr)
	}
	if c := changedFiles(before, inodes(t, down)); len(c) != 0 {
		t.Fatalf("unchanged sync down replaced %v", c)
	}
	if _, err := os.Lstat(filepath.Join(down, "stray")); err == nil {
		t.Error("--delete down left the stray file")
	}
}
