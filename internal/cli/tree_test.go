package cli_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/rexectest"
)

// treeSpec shapes a generated tree: files spread over 100 directories (10
// top-level ones with 10 below each), every 50th file empty, large files
// (over a batch's 256 KiB) among them, an empty directory and one below
// it, links relative, absolute, dangling and to a directory, and a mode
// and a modification time with nanoseconds on every file and directory.
type treeSpec struct {
	files int
	large int // how many of the files are large (one in files/large)
}

// treeBase is the modification time trees are dated from.
var treeBase = time.Date(2021, 3, 4, 5, 6, 7, 890123456, time.UTC)

// writeTree writes version v of the tree described by s under root. Two
// versions have the same names, and different content, modes and times.
func (s treeSpec) write(t *testing.T, root string, v int) {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(v), 99))
	stamp := func(p string, i int) {
		mt := treeBase.Add(time.Duration(v)*1000*time.Hour + time.Duration(i)*time.Second + time.Duration(i))
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	for i := range s.files {
		dir := filepath.Join(root, fmt.Sprintf("d%d", i%10), fmt.Sprintf("e%d", i/10%10))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		n := 1 + r.IntN(4000)
		switch {
		case i%50 == 0:
			n = 0
		case s.large > 0 && i%(s.files/s.large) == 1:
			n = 300<<10 + r.IntN(1<<20)
		}
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		p := filepath.Join(dir, fmt.Sprintf("f%05d", i))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, []os.FileMode{0o644, 0o600, 0o755, 0o640}[(i+v)%4]); err != nil {
			t.Fatal(err)
		}
		stamp(p, i)
	}
	for _, d := range []string{"empty/inner", "d1/e1/deep/er"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{"d0/e0/rel": "f00001", "abs": "/etc/hostname", "dangling": "nowhere",
		"todir": "d1", "d2/up": "../d3/e3"}
	for link, target := range links {
		if err := os.Symlink(target+strings.Repeat("/.", v), filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	// Directories last, deepest first, so their times stay.
	var dirs []string
	err := filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			dirs = append(dirs, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(dirs)
	for i, d := range dirs {
		if err := os.Chmod(d, []os.FileMode{0o755, 0o711, 0o750}[(i+v)%3]); err != nil {
			t.Fatal(err)
		}
		stamp(d, i)
	}
}

// treeListing describes everything below and including root with find(1):
// path, type and mode of every item; size and modification time (with
// nanoseconds) of files and directories, the root's included; the target
// of links (a link's own time is the receiver's, docs/PROTOCOL.md §8.2).
func treeListing(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	for _, args := range [][]string{
		{"-type", "d", "-printf", "%P %y %m %T@\n"},
		{"-type", "f", "-printf", "%P %y %m %s %T@\n"},
		{"-type", "l", "-printf", "%P %y %l\n"},
		{"-not", "-type", "d", "-not", "-type", "f", "-not", "-type", "l", "-printf", "%P %y\n"},
	} {
		out, err := exec.Command("find", append([]string{root}, args...)...).Output()
		if err != nil {
			t.Fatal(err)
		}
		if s := strings.TrimSpace(string(out)); s != "" {
			lines = append(lines, strings.Split(s, "\n")...)
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// identicalTree reports how got differs from want (diff -r without
// following links, and treeListing), or "".
func identicalTree(t *testing.T, want, got string) string {
	t.Helper()
	if out, err := exec.Command("diff", "-r", "--no-dereference", want, got).CombinedOutput(); err != nil {
		return fmt.Sprintf("diff -r %s %s: %v\n%.2000s", want, got, err, out)
	}
	if w, g := treeListing(t, want), treeListing(t, got); w != g {
		return fmt.Sprintf("listing of %s differs from %s: %s", got, want, firstDiff(g, w))
	}
	return ""
}

// treeScale picks a size: -short, the default (make test), or the full
// run (REXEC_RELIABILITY_FULL=1, rexectest.Scale).
func treeScale(short, def, full int) int { return rexectest.Scale(short, def, full) }

// TestCpTreeIdentical copies a tree of 10,000 files in the full run (2,000
// by default; 100 directories, empty files, large files between the
// batches, an empty directory, links) up and down with cp -r and with
// sync, and each copy is identical to the source: content (diff -r),
// modes, modification times of files and directories (the top one
// included), link targets; no temporary file is left anywhere.
func TestCpTreeIdentical(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	dir := t.TempDir()
	src := filepath.Join(dir, "tree")
	treeSpec{files: treeScale(500, 2000, 10000), large: 5}.write(t, src, 1)
	up, down := filepath.Join(dir, "up"), filepath.Join(dir, "down")
	syncUp, syncDown := filepath.Join(dir, "syncup"), filepath.Join(dir, "syncdown")
	for _, c := range []struct {
		name string
		args []string
		got  string
	}{
		{"cp -r up", []string{"cp", "-r", src, remote(up)}, up},
		{"cp -r down", []string{"cp", "-r", remote(up), down}, down},
		{"sync up", []string{"sync", src + "/", remote(syncUp)}, syncUp},
		{"sync down", []string{"sync", remote(src) + "/", syncDown}, syncDown},
	} {
		start := time.Now()
		r := rexec(t, d.Home, nil, append([]string{c.args[0], "-P", d.Port()}, c.args[1:]...)...)
		if r.code != 0 {
			t.Fatalf("%s = %d, stderr %q", c.name, r.code, r.stderr)
		}
		t.Logf("%s: %v", c.name, time.Since(start).Round(time.Millisecond))
		if msg := identicalTree(t, src, c.got); msg != "" {
			t.Errorf("%s: %s", c.name, msg)
		}
	}
	if left := tempFilesIn(t, dir); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// versions maps each path of a tree below its root to what its old and
// its new version hold: a file's sha256 or a link's target.
type versions map[string][2]string

// contentOf is a file's sha256, a link's target, or "dir".
func contentOf(t *testing.T, p string) string {
	t.Helper()
	fi, err := os.Lstat(p)
	switch {
	case err != nil:
		return "missing"
	case fi.Mode()&os.ModeSymlink != 0:
		target, _ := os.Readlink(p)
		return "-> " + target
	case fi.IsDir():
		return "dir"
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// versionsOf reads the old and the new tree.
func versionsOf(t *testing.T, old, new string) versions {
	t.Helper()
	v := versions{}
	err := filepath.WalkDir(new, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(new, p)
		v[rel] = [2]string{contentOf(t, filepath.Join(old, rel)), contentOf(t, p)}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// check fails unless every path of dst holds its old or its whole new
// version, and dst holds nothing else but rexec's temporary files. It
// returns how many paths were new and how many temporary files there were.
func (v versions) check(t *testing.T, dst, when string) (newer, temps int) {
	t.Helper()
	for rel, want := range v {
		got := contentOf(t, filepath.Join(dst, rel))
		switch got {
		case want[1]:
			if got != want[0] {
				newer++
			}
		case want[0]:
		default:
			t.Fatalf("%s: %s holds %s, neither the old %s nor the new %s", when, rel, got, want[0], want[1])
		}
	}
	err := filepath.WalkDir(dst, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dst, p)
		switch _, known := v[rel]; {
		case known:
		case strings.Contains(e.Name(), ".rexec-part-") || strings.Contains(e.Name(), ".rexec-link-"):
			temps++
		default:
			t.Fatalf("%s: %s is neither in the tree nor a temporary file", when, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return newer, temps
}

// killCase is a tree copy whose receiver is killed with SIGKILL: old is
// the destination's old version (restored before each kill), src the new
// one, dst where the copy goes.
type killCase struct {
	old, src, dst string
	v             versions
}

func newKillCase(t *testing.T, base string) *killCase {
	t.Helper()
	c := &killCase{old: filepath.Join(base, "old", "tree"), src: filepath.Join(base, "src", "tree"),
		dst: filepath.Join(base, "dst", "tree")}
	spec := treeSpec{files: treeScale(200, 400, 2000), large: treeScale(2, 4, 8)}
	spec.write(t, c.old, 1)
	spec.write(t, c.src, 2)
	c.v = versionsOf(t, c.old, c.src)
	c.reset(t)
	return c
}

// reset puts the old version in dst.
func (c *killCase) reset(t *testing.T) {
	t.Helper()
	if err := os.RemoveAll(filepath.Dir(c.dst)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(c.dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", c.old, c.dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v %s", err, out)
	}
}

// killRounds is how many copies each kill test interrupts.
func killRounds() int { return treeScale(4, 8, 20) }

// runKills runs the copy start() starts killRounds times, kills the
// receiver (kill) at a random moment within 1.3 times a full copy, and
// checks the destination after each kill; the last three kills come one
// after the other on the same destination. Then a copy with --resume
// (final) must leave dst identical to src with no temporary file.
func (c *killCase) runKills(t *testing.T, full time.Duration, start func() *exec.Cmd, kill func(*exec.Cmd),
	final func() result) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	rounds := killRounds()
	interrupted, temps := 0, 0
	for i := range rounds {
		if i < rounds-3 {
			c.reset(t)
		}
		cmd := start()
		time.Sleep(time.Duration(rng.Int64N(int64(full) * 13 / 10)))
		kill(cmd)
		newer, tmp := c.v.check(t, c.dst, fmt.Sprintf("kill %d", i))
		if newer < len(c.v) {
			interrupted++
		}
		temps += tmp
	}
	t.Logf("%d kills within %v copies: %d interrupted, %d temporary files seen after them", rounds, full, interrupted, temps)
	if interrupted == 0 {
		t.Errorf("no kill landed during a copy; the test proves nothing")
	}
	if r := final(); r.code != 0 {
		t.Fatalf("copy after the kills = %d, stderr %q", r.code, r.stderr)
	}
	if msg := identicalTree(t, c.src, c.dst); msg != "" {
		t.Fatalf("after the kills and a last copy: %s", msg)
	}
	if left := tempFilesIn(t, filepath.Dir(c.dst)); len(left) != 0 {
		t.Errorf("temporary files neither resumed nor swept: %v", left)
	}
}

// TestCpTreeKillReceivingDaemon kills the daemon with SIGKILL at random
// moments while it receives a tree upload (400 files, 4 of them large, by
// default; 2,000 and 8 in the full run; over an old version of the same
// tree): every path holds its old or its
// whole new version after each kill; then one more upload with --resume
// leaves the tree identical to the source and no temporary file.
func TestCpTreeKillReceivingDaemon(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	c := newKillCase(t, t.TempDir())
	upload := func(extra ...string) []string {
		return append(append([]string{"cp", "-P", d.Port(), "-r"}, extra...), c.src, remote(filepath.Dir(c.dst)))
	}
	start := time.Now()
	if r := rexec(t, home, nil, upload()...); r.code != 0 {
		t.Fatalf("upload = %d, %q", r.code, r.stderr)
	}
	full := time.Since(start)
	c.runKills(t, full, func() *exec.Cmd {
		cmd := exec.Command(rexecBin, upload()...)
		cmd.Env = append(os.Environ(), "REXEC_HOME="+home)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}, func(cmd *exec.Cmd) {
		_ = d.Cmd.Process.Kill()
		<-d.Done()
		_ = cmd.Wait()
		d = startDaemon(t, home)
	}, func() result { return rexec(t, home, nil, upload("--resume")...) })
}

// TestCpTreeKillReceivingClient kills the client with SIGKILL at random
// moments while it receives a tree download, with the same rules as
// TestCpTreeKillReceivingDaemon.
func TestCpTreeKillReceivingClient(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	c := newKillCase(t, t.TempDir())
	download := func(extra ...string) []string {
		return append(append([]string{"cp", "-P", d.Port(), "-r"}, extra...), remote(c.src), filepath.Dir(c.dst))
	}
	start := time.Now()
	if r := rexec(t, d.Home, nil, download()...); r.code != 0 {
		t.Fatalf("download = %d, %q", r.code, r.stderr)
	}
	full := time.Since(start)
	c.runKills(t, full, func() *exec.Cmd {
		cmd := exec.Command(rexecBin, download()...)
		cmd.Env = append(os.Environ(), "REXEC_HOME="+d.Home)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}, func(cmd *exec.Cmd) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}, func() result { return rexec(t, d.Home, nil, download("--resume")...) })
}
