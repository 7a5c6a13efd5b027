package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// ansi matches the terminal control sequences a bar is drawn with.
var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// TestTreeProgressOnTerminal: a tree transfer on a terminal draws one
// bar for the whole transfer, counting files against the total and bytes
// with a rate, "done" at the end; no bar of its own for any file, not
// even the large one. cp -r up (the total from the local walk), cp -r
// down (from the server's count, tree_size) and sync up (from its plan).
// Without a terminal nothing is drawn: cp says nothing, sync its summary.
func TestTreeProgressOnTerminal(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	dir := t.TempDir()
	src := filepath.Join(dir, "tree")
	makeTree(t, src)
	writeRandom(t, filepath.Join(src, "d04", "bigfile.bin"), 3<<20, 5) // streamed, not batched
	files := 1000 + 2 + 1                                              // makeTree's, its two empty ones, the big one
	want := fmt.Sprintf("%d/%d files", files, files)
	for _, c := range []struct {
		name  string
		args  []string
		label string
	}{
		{"cp -r up", []string{"cp", "-P", d.Port(), "-r", src, remote(filepath.Join(dir, "up"))}, "localhost:"},
		{"cp -r down", []string{"cp", "-P", d.Port(), "-r", remote(src), filepath.Join(dir, "down")}, "localhost:"},
		{"sync up", []string{"sync", "-P", d.Port(), src + "/", remote(filepath.Join(dir, "synced"))}, "localhost:"},
	} {
		screen, code := onTerminal(t, d.Home, c.args...)
		plain := ansi.ReplaceAllString(screen, "")
		switch {
		case code != 0:
			t.Errorf("%s on a terminal = %d, screen %q", c.name, code, plain)
		case !strings.Contains(plain, want):
			t.Errorf("%s: the screen lacks %q: %q", c.name, want, plain)
		case !strings.Contains(plain, "done") || !strings.Contains(plain, c.label) || !strings.Contains(plain, "MiB"):
			t.Errorf("%s: the screen lacks the bar's label, bytes or end: %q", c.name, plain)
		case strings.Contains(plain, "bigfile.bin"):
			t.Errorf("%s: a bar of its own for the large file: %q", c.name, plain)
		}
	}
	// No terminal: nothing drawn.
	for _, c := range [][]string{
		{"cp", "-P", d.Port(), "-r", src, remote(filepath.Join(dir, "up2"))},
		{"cp", "-P", d.Port(), "-r", remote(src), filepath.Join(dir, "down2")},
	} {
		if r := rexec(t, d.Home, nil, c...); r.code != 0 || r.stderr != "" || r.stdout != "" {
			t.Errorf("%v without a terminal = %d, stdout %q, stderr %q; want 0 and silence", c, r.code, r.stdout, r.stderr)
		}
	}
	r := rexec(t, d.Home, nil, "sync", "-P", d.Port(), src+"/", remote(filepath.Join(dir, "synced2")))
	if r.code != 0 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, fmt.Sprintf("sent %d files", files)) {
		t.Errorf("sync without a terminal = %d, stderr %q; want the summary alone", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "down", "d04", "bigfile.bin")); err != nil {
		t.Error(err)
	}
}
