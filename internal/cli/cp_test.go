package cli_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cpMtime is the modification time given to source files, with
// nanoseconds, so that keeping it is visible.
var cpMtime = time.Date(2020, 1, 2, 3, 4, 5, 123456789, time.UTC)

// writeRandom writes size seeded pseudo-random bytes to path.
func writeRandom(t *testing.T, path string, size int64, seed uint64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	if _, err := io.CopyN(f, rand.NewChaCha8(s), size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, cpMtime, cpMtime); err != nil {
		t.Fatal(err)
	}
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// cp runs `rexec cp -P PORT args...` against d.
func cp(t *testing.T, d *daemon, args ...string) result {
	t.Helper()
	return rexec(t, d.Home, nil, append([]string{"cp", "-P", d.Port()}, args...)...)
}

// remote names a path on d's host for cp.
func remote(p string) string { return "localhost:" + p }

// tempFilesIn lists rexec's temporary files under dir.
func tempFilesIn(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && strings.Contains(e.Name(), ".rexec-") {
			found = append(found, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestCpLargeFileUpAndDown(t *testing.T) {
	const size = 256 << 20
	d := startDaemon(t, t.TempDir())
	dir := t.TempDir()
	src := filepath.Join(dir, "big.bin")
	writeRandom(t, src, size, 1)
	if err := os.Chmod(src, 0o640); err != nil {
		t.Fatal(err)
	}
	want := fileSHA(t, src)
	up, down := filepath.Join(dir, "up.bin"), filepath.Join(dir, "down.bin")
	if r := cp(t, d, src, remote(up)); r.code != 0 || r.stderr != "" {
		t.Fatalf("upload = %d, stderr %q; want 0 and silence (no terminal, no bar)", r.code, r.stderr)
	}
	if r := cp(t, d, remote(up), down); r.code != 0 {
		t.Fatalf("download = %d, stderr %q", r.code, r.stderr)
	}
	for _, p := range []string{up, down} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fileSHA(t, p); got != want {
			t.Errorf("%s: sha256 %s, want %s", filepath.Base(p), got, want)
		}
		if fi.Mode() != 0o640 || !fi.ModTime().Equal(cpMtime) {
			t.Errorf("%s: mode %v mtime %v, want -rw-r----- and %v", filepath.Base(p), fi.Mode(), fi.ModTime(), cpMtime)
		}
	}
	if left := tempFilesIn(t, dir); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// makeTree builds the tree of the acceptance test: 1,000 small files in
// nested directories, empty files, an empty directory, symbolic links.
func makeTree(t *testing.T, root string) {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 7))
	for i := range 1000 {
		dir := filepath.Join(root, fmt.Sprintf("d%02d", i%17), fmt.Sprintf("e%d", i%3))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, r.IntN(3000))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		p := filepath.Join(dir, fmt.Sprintf("f%04d", i))
		if err := os.WriteFile(p, b, treeMode(i)); err != nil {
			t.Fatal(err)
		}
		mt := cpMtime.Add(time.Duration(i) * time.Second)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"empty1", "d03/empty2"} {
		if err := os.WriteFile(filepath.Join(root, p), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "emptydir"), 0o750); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"link": "d01/e1/f0001", "abslink": "/etc/hostname", "dangling": "nowhere"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "d05"), 0o711); err != nil {
		t.Fatal(err)
	}
}

// treeMode gives every tenth file of the tree an executable mode.
func treeMode(i int) os.FileMode {
	if i%10 == 0 {
		return 0o755
	}
	return 0o644
}

// listing describes a tree with find(1): path, type and mode of
// everything, the size of files and links (a directory's size depends on
// its history), and the modification time of files.
func listing(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	for _, args := range [][]string{
		{"-type", "d", "-printf", "%P %y %m\n"},
		{"-not", "-type", "d", "-printf", "%P %y %m %s\n"},
		{"-type", "f", "-printf", "%P %T@\n"},
	} {
		out, err := exec.Command("find", append([]string{root, "-mindepth", "1"}, args...)...).Output()
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.Split(strings.TrimSpace(string(out)), "\n")...)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func TestCpTreeUpAndDown(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	dir := t.TempDir()
	src := filepath.Join(dir, "tree")
	makeTree(t, src)
	up, down := filepath.Join(dir, "up"), filepath.Join(dir, "down")
	if r := cp(t, d, "-r", src, remote(up)); r.code != 0 {
		t.Fatalf("upload -r = %d, stderr %q", r.code, r.stderr)
	}
	if r := cp(t, d, "-r", remote(up), down); r.code != 0 {
		t.Fatalf("download -r = %d, stderr %q", r.code, r.stderr)
	}
	want := listing(t, src)
	for _, got := range []string{up, down} {
		if out, err := exec.Command("diff", "-r", "--no-dereference", src, got).CombinedOutput(); err != nil {
			t.Errorf("diff -r %s %s: %v\n%s", src, got, err, out)
		}
		if l := listing(t, got); l != want {
			t.Errorf("find listing of %s differs: %s", filepath.Base(got), firstDiff(l, want))
		}
	}
	if target, err := os.Readlink(filepath.Join(down, "abslink")); err != nil || target != "/etc/hostname" {
		t.Errorf("abslink = %q, %v; want the link kept as a link", target, err)
	}
	// Into an existing directory, a tree goes inside it under its own name.
	into := filepath.Join(dir, "into")
	if err := os.Mkdir(into, 0o755); err != nil {
		t.Fatal(err)
	}
	if r := cp(t, d, "-r", remote(up), remote(src+"/d01"), into); r.code != 0 {
		t.Fatalf("download of two trees into a directory = %d, stderr %q", r.code, r.stderr)
	}
	for _, p := range []string{"up/d01/e1/f0001", "d01/e1/f0001"} {
		if _, err := os.Stat(filepath.Join(into, p)); err != nil {
			t.Errorf("several sources into a directory: %v", err)
		}
	}
}

// firstDiff shows the first line where two listings differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d: got %q, want %q", i, g[i], w[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(g), len(w))
}

func TestCpFileErrors(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	writeRandom(t, f, 10, 3)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"missing local source", []string{filepath.Join(dir, "nope"), remote(dir + "/x")}, 1, "no such file"},
		{"missing remote source", []string{remote(dir + "/nope"), filepath.Join(dir, "x")}, 1, "no such file"},
		{"directory without -r", []string{filepath.Join(dir, "sub"), remote(dir + "/x")}, 1, "is a directory"},
		{"remote directory without -r", []string{remote(dir + "/sub"), filepath.Join(dir, "x")}, 1, "is a directory"},
		{"several sources, no directory", []string{f, f, remote(dir + "/none")}, 1, "not a directory"},
		{"missing remote directory", []string{f, remote(dir + "/none/x")}, 1, "does not exist"},
		{"two remotes", []string{remote("a"), remote("b")}, 2, "not supported"},
		{"no remote", []string{f, f + "2"}, 2, "no remote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cp(t, d, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.msg) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("cp %v = %d, stderr %q; want %d and one line with %q", tt.args, r.code, r.stderr, tt.code, tt.msg)
			}
		})
	}
	r := rexec(t, d.Home, nil, "cp", "-P", "1", f, "localhost:x")
	if r.code != 255 || !strings.Contains(r.stderr, "refused") {
		t.Errorf("cp to a closed port = %d, stderr %q; want 255 and refused", r.code, r.stderr)
	}
}

func TestCpNoFileTransferKey(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	ak := filepath.Join(home, "authorized_keys")
	b, err := os.ReadFile(ak)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ak, []byte("no-file-transfer "+string(b)), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	writeRandom(t, f, 10, 4)
	for _, args := range [][]string{{f, remote(dir + "/up")}, {remote(f), filepath.Join(dir, "down")}} {
		r := cp(t, d, args...)
		if r.code != 1 || !strings.Contains(r.stderr, "no-file-transfer") {
			t.Errorf("cp %v with a no-file-transfer key = %d, stderr %q; want 1 and the rule named", args, r.code, r.stderr)
		}
	}
	for _, p := range []string{"up", "down"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s was created despite no-file-transfer", p)
		}
	}
	if r := rexec(t, home, nil, "run", d.host(), "true"); r.code != 0 {
		t.Errorf("run with the same key = %d, %q; want 0 (only transfers are refused)", r.code, r.stderr)
	}
}

var resumedRE = regexp.MustCompile(`resumed at (\d+) bytes, (\d+) bytes on the wire`)

// resumeStats runs an upload with --resume -v and returns where it
// resumed and how many file bytes crossed the wire.
func resumeStats(t *testing.T, d *daemon, src, dst string) (offset, sent int64) {
	t.Helper()
	r := cp(t, d, "--resume", "-v", src, remote(dst))
	m := resumedRE.FindStringSubmatch(r.stderr)
	if r.code != 0 || m == nil {
		t.Fatalf("cp --resume -v = %d, stderr %q; want 0 and the resume line", r.code, r.stderr)
	}
	offset, _ = strconv.ParseInt(m[1], 10, 64)
	sent, _ = strconv.ParseInt(m[2], 10, 64)
	return offset, sent
}

// startCp starts an upload in the background.
func startCp(t *testing.T, d *daemon, src, dst string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(rexecBin, "cp", "-P", d.Port(), src, remote(dst))
	cmd.Env = append(os.Environ(), "REXEC_HOME="+d.Home)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// partialSize is the size of the one partial file beside target, or -1.
func partialSize(target string) int64 {
	m, _ := filepath.Glob(filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+".rexec-part-*"))
	if len(m) != 1 {
		return -1
	}
	fi, err := os.Stat(m[0])
	if err != nil {
		return -1
	}
	return fi.Size()
}

// interruptAt starts an upload and kills its client with SIGKILL once the
// server's partial file holds at least min bytes (bounded wait). A partial
// file an earlier upload left is removed first: otherwise the kill could
// come as soon as the new client has sent its put, the server then
// truncating that partial file after the kill (an upload without --resume
// starts over), and a resume would find next to nothing to keep.
func interruptAt(t *testing.T, d *daemon, src, dst string, min int64) {
	t.Helper()
	stale, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".rexec-part-*"))
	for _, p := range stale {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	cmd := startCp(t, d, src, dst)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for partialSize(dst) < min && time.Now().Before(deadline) {
		select {
		case <-waited:
			t.Fatalf("the upload ended before its partial file reached %d bytes", min)
		case <-time.After(time.Millisecond):
		}
	}
	_ = cmd.Process.Kill()
	<-waited
	if got := partialSize(dst); got < min {
		t.Fatalf("partial file holds %d bytes after the kill, want at least %d", got, min)
	}
}

// atomicCase prepares the kill tests: a 64 MiB source and a target
// holding old content.
type atomicCase struct {
	src, dst       string
	oldSHA, newSHA string
	old            []byte
}

const killSize = 64 << 20

func newAtomicCase(t *testing.T) *atomicCase {
	dir := t.TempDir()
	c := &atomicCase{src: filepath.Join(dir, "src.bin"), dst: filepath.Join(dir, "dst", "target.bin")}
	writeRandom(t, c.src, killSize, 11)
	c.newSHA = fileSHA(t, c.src)
	if err := os.Mkdir(filepath.Dir(c.dst), 0o755); err != nil {
		t.Fatal(err)
	}
	c.old = bytes.Repeat([]byte("old content\n"), 1000)
	s := sha256.Sum256(c.old)
	c.oldSHA = hex.EncodeToString(s[:])
	return c
}

func (c *atomicCase) resetTarget(t *testing.T) {
	t.Helper()
	tmp := c.dst + ".tmp"
	if err := os.WriteFile(tmp, c.old, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, c.dst); err != nil {
		t.Fatal(err)
	}
}

// check asserts the target holds the old or the new content, nothing else.
func (c *atomicCase) check(t *testing.T, i int) (complete bool) {
	t.Helper()
	switch got := fileSHA(t, c.dst); got {
	case c.newSHA:
		return true
	case c.oldSHA:
		return false
	default:
		t.Fatalf("kill %d: target has sha256 %s: neither the old content nor the new one", i, got)
	}
	return false
}

// timeUpload measures one complete upload to a scratch name.
func timeUpload(t *testing.T, d *daemon, c *atomicCase) time.Duration {
	t.Helper()
	start := time.Now()
	if r := cp(t, d, c.src, remote(c.dst+".timing")); r.code != 0 {
		t.Fatalf("upload = %d, %q", r.code, r.stderr)
	}
	return time.Since(start)
}

func TestCpKillClientIsAtomicThenResume(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	c := newAtomicCase(t)
	full := timeUpload(t, d, c)
	rng := rand.New(rand.NewPCG(2024, 5))
	interrupted := 0
	for i := range 20 {
		c.resetTarget(t)
		cmd := startCp(t, d, c.src, c.dst)
		time.Sleep(time.Duration(rng.Int64N(int64(full) * 13 / 10)))
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if !c.check(t, i) {
			interrupted++
		}
	}
	t.Logf("20 kills within %v uploads: %d interrupted, %d complete", full, interrupted, 20-interrupted)
	if interrupted == 0 {
		t.Errorf("no kill landed during an upload; the test proves nothing")
	}
	c.resetTarget(t)
	interruptAt(t, d, c.src, c.dst, killSize/2)
	c.check(t, 20)
	offset, sent := resumeStats(t, d, c.src, c.dst)
	if offset < killSize/2-4<<20 || sent != killSize-offset {
		t.Errorf("resume started at %d and sent %d bytes; want at least %d kept and the rest sent", offset, sent, killSize/2-4<<20)
	}
	if !c.check(t, 21) {
		t.Errorf("after --resume the target is still old")
	}
	if left := tempFilesIn(t, filepath.Dir(c.dst)); len(left) != 0 {
		t.Errorf("temporary files left after the resume: %v", left)
	}
}

func TestCpKillServerIsAtomic(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	c := newAtomicCase(t)
	full := timeUpload(t, d, c)
	rng := rand.New(rand.NewPCG(2024, 6))
	interrupted := 0
	for i := range 20 {
		c.resetTarget(t)
		cmd := startCp(t, d, c.src, c.dst)
		time.Sleep(time.Duration(rng.Int64N(int64(full) * 13 / 10)))
		_ = d.Cmd.Process.Kill()
		<-d.Done()
		_ = cmd.Wait()
		if !c.check(t, i) {
			interrupted++
		}
		d = startDaemon(t, home)
	}
	t.Logf("20 server kills within %v uploads: %d interrupted", full, interrupted)
	if interrupted == 0 {
		t.Errorf("no kill landed during an upload; the test proves nothing")
	}
	if _, sent := resumeStats(t, d, c.src, c.dst); sent > killSize {
		t.Errorf("resume after server kills sent %d bytes", sent)
	}
	if !c.check(t, 21) {
		t.Errorf("after --resume the target is still old")
	}
}

func TestCpResumeRepairsFlippedByte(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	c := newAtomicCase(t)
	c.resetTarget(t)
	interruptAt(t, d, c.src, c.dst, killSize/2)
	parts, _ := filepath.Glob(filepath.Join(filepath.Dir(c.dst), ".target.bin.rexec-part-*"))
	if len(parts) != 1 {
		t.Fatalf("partial files %v, want one", parts)
	}
	const chunk = 4 << 20
	flip := int64(chunk + 12345) // in the second chunk
	f, err := os.OpenFile(parts[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{0}
	if _, err := f.ReadAt(b, flip); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x80
	if _, err := f.WriteAt(b, flip); err != nil {
		t.Fatal(err)
	}
	f.Close()
	offset, sent := resumeStats(t, d, c.src, c.dst)
	if offset != chunk || sent != killSize-chunk {
		t.Errorf("resume at %d sending %d, want the tampered chunk and all after it re-sent: %d and %d",
			offset, sent, chunk, killSize-chunk)
	}
	if !c.check(t, 0) {
		t.Errorf("after --resume the target is still old")
	}
}
