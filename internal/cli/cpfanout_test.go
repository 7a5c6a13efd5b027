package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// cpRecord is one line of `rexec cp --output json`, decoded: the fields
// of a fan-out record and a copy's counts.
type cpRecord struct {
	fanRecord
	Entries       *int   `json:"entries"`
	FailedEntries *int   `json:"failed_entries"`
	Bytes         *int64 `json:"bytes"`
}

// parseCpRecords checks the json lines as parseRecords does (one per
// host, every field of docs/CLI.md §7) and decodes the copy counts too.
func parseCpRecords(t *testing.T, out string) map[string]cpRecord {
	t.Helper()
	parseRecords(t, out)
	recs := map[string]cpRecord{}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var r cpRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("json line %q: %v", line, err)
		}
		recs[r.Host] = r
	}
	return recs
}

// cpScene is the set-up of most fan-out copy tests: one daemon listening
// on n consecutive 127.0.0.x addresses that share one port (cp's
// HOST:PATH has no room for a port; -P gives it), and a source file in a
// scratch directory.
type cpScene struct {
	fleet                *fleet
	home, port, dir, src string
	ips                  []string // the hosts, as bare addresses
}

// newCpScene starts the daemon on 127.0.0.first.. and writes size bytes
// (from seed) to dir/src.
func newCpScene(t *testing.T, first, n int, size int64, seed uint64) cpScene {
	t.Helper()
	s := cpScene{home: t.TempDir(), port: sharedFreePort(t, first, n), dir: t.TempDir()}
	s.fleet = startFleet(t, s.home, nil, loopbackAddrs(first, n, s.port)...)
	for i := range n {
		s.ips = append(s.ips, fmt.Sprintf("127.0.0.%d", first+i))
	}
	s.src = filepath.Join(s.dir, "src")
	writeRandom(t, s.src, size, seed)
	return s
}

// writeText writes text to path.
func writeText(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// makeSmallTree builds a small tree: nested files, an empty file, an
// empty directory and a symbolic link.
func makeSmallTree(t *testing.T, root string) {
	t.Helper()
	for i, p := range []string{"a.txt", "sub/b.bin", "sub/deeper/c.bin", "empty"} {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		writeRandom(t, full, int64(i*70000), uint64(100+i))
	}
	if err := os.Mkdir(filepath.Join(root, "emptydir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub/b.bin", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
}

// sameTree reports how got differs from want (files by sha256, links by
// target, modes), or "".
func sameTree(t *testing.T, want, got string) string {
	t.Helper()
	out, err := exec.Command("diff", "-r", "--no-dereference", want, got).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("diff -r: %v\n%s", err, out)
	}
	if l, w := listing(t, got), listing(t, want); l != w {
		return firstDiff(l, w)
	}
	return ""
}

// TestCpFanoutUpload: a file and a small tree to 5 hosts at once, each
// to its own destination: every target's sha256 matches, the json output
// is one well-formed copied record per host, and nothing else is said.
func TestCpFanoutUpload(t *testing.T) {
	sc := newCpScene(t, 130, 5, 3<<20, 11)
	home, port, ips, dir, src := sc.home, sc.port, sc.ips, sc.dir, sc.src
	tree := filepath.Join(dir, "tree")
	makeSmallTree(t, tree)
	want := fileSHA(t, src)
	dst := func(ip, what string) string { return filepath.Join(dir, "to-"+ip, what) }
	args := []string{"cp", "-P", port, "--output", "json", src}
	treeArgs := []string{"cp", "-P", port, "--output", "json", "-r", tree}
	for _, ip := range ips {
		if err := os.Mkdir(filepath.Join(dir, "to-"+ip), 0o755); err != nil {
			t.Fatal(err)
		}
		args = append(args, ip+":"+dst(ip, "copy.bin"))
		treeArgs = append(treeArgs, ip+":"+dst(ip, "tree"))
	}
	for _, a := range [][]string{args, treeArgs} {
		r := rexec(t, home, nil, a...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("%v = %d, stderr %q; want 0 and silence", a, r.code, r.stderr)
		}
		if n := strings.Count(r.stdout, "\n"); n != len(ips) {
			t.Fatalf("json output has %d lines, want %d:\n%s", n, len(ips), r.stdout)
		}
		recs := parseCpRecords(t, r.stdout)
		for _, ip := range ips {
			rec, ok := recs[ip]
			switch {
			case !ok:
				t.Errorf("no record for %s", ip)
			case rec.Outcome != "copied" || rec.ExitCode == nil || *rec.ExitCode != 0 || rec.Error != nil:
				t.Errorf("%s: outcome %s exit %v error %v; want copied 0", ip, rec.Outcome, rec.ExitCode, rec.Error)
			case rec.Entries == nil || *rec.Entries == 0 || rec.FailedEntries == nil || *rec.FailedEntries != 0 || rec.Bytes == nil:
				t.Errorf("%s: entries %v failed %v bytes %v; want counts", ip, rec.Entries, rec.FailedEntries, rec.Bytes)
			}
		}
	}
	for _, ip := range ips {
		if got := fileSHA(t, dst(ip, "copy.bin")); got != want {
			t.Errorf("%s: sha256 %s, want %s", ip, got, want)
		}
		if diff := sameTree(t, tree, dst(ip, "tree")); diff != "" {
			t.Errorf("%s: tree differs: %s", ip, diff)
		}
	}
	if left := tempFilesIn(t, dir); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestCpFanoutRangeAndHostsFile: a host range and a --hosts file (with
// -x) name the hosts; every one gets the file (-f 1: the hosts share
// this machine's disk, so they take turns at the one destination).
func TestCpFanoutRangeAndHostsFile(t *testing.T) {
	sc := newCpScene(t, 140, 4, 100000, 12)
	home, port, ips, dir, src := sc.home, sc.port, sc.ips, sc.dir, sc.src
	hostsFile := filepath.Join(dir, "hosts")
	writeText(t, hostsFile, "# fleet\n127.0.0.[140-143]\n")
	out := filepath.Join(dir, "out")
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"127.0.0.[140-142]:" + out}, ips[:3]},
		{[]string{"--hosts", hostsFile, "-x", "127.0.0.141", ":" + out}, []string{ips[0], ips[2], ips[3]}},
	}
	for _, tt := range tests {
		os.Remove(out)
		args := append([]string{"cp", "-P", port, "-f", "1", "--output", "json", src}, tt.args...)
		r := rexec(t, home, nil, args...)
		recs := parseCpRecords(t, r.stdout)
		var got []string
		for h, rec := range recs {
			if rec.Outcome == "copied" && rec.Bytes != nil && *rec.Bytes == 100000 {
				got = append(got, h)
			}
		}
		if r.code != 0 || !sameHosts(got, tt.want) || len(recs) != len(tt.want) {
			t.Errorf("%v = %d, copied to %v; want 0 and %v; stderr %q", args, r.code, got, tt.want, r.stderr)
		}
		if sha := fileSHA(t, out); sha != fileSHA(t, src) {
			t.Errorf("%v: sha256 %s, want the source's", args, sha)
		}
	}
}

// TestCpFanoutUnreachableHosts: among hosts that take the copy, a closed
// port is connect_failed, a changed host key host_key_mismatch (and
// nothing is written there), a key the server forbids transfers denied;
// the others get their files and the status is 255. The prefix mode says
// the same on stderr, one line per failed host.
func TestCpFanoutUnreachableHosts(t *testing.T) {
	home := t.TempDir()
	port := sharedFreePort(t, 150, 6)
	startFleet(t, home, nil, loopbackAddrs(150, 3, port)...)
	impostor := startFleet(t, t.TempDir(), nil, fmt.Sprintf("127.0.0.154:%s", port))
	strict := startFleet(t, t.TempDir(), nil, fmt.Sprintf("127.0.0.155:%s", port))
	pinWrongKey(t, home, impostor.Addrs[0])
	pub, err := os.ReadFile(filepath.Join(home, "id_ed25519.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(strict.Home, "authorized_keys"), append([]byte("no-file-transfer "), pub...), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "f")
	writeRandom(t, src, 200000, 13)
	want := map[string]string{"127.0.0.153": "connect_failed", "127.0.0.154": "host_key_mismatch", "127.0.0.155": "denied"}
	for i := range 3 {
		want[fmt.Sprintf("127.0.0.%d", 150+i)] = "copied"
	}
	args := func(flags ...string) []string {
		a := append([]string{"cp", "-P", port, "--accept-new"}, flags...)
		a = append(a, src)
		for h := range want {
			a = append(a, h+":"+filepath.Join(dir, "to-"+h))
		}
		return a
	}
	r := rexec(t, home, nil, args("--output", "json")...)
	if r.code != 255 {
		t.Errorf("cp with unreachable hosts = %d, want 255; stderr %q", r.code, r.stderr)
	}
	if n := strings.Count(r.stdout, "\n"); n != len(want) {
		t.Errorf("json output has %d lines, want %d", n, len(want))
	}
	recs := parseCpRecords(t, r.stdout)
	for host, outcome := range want {
		rec := recs[host]
		if rec.Outcome != outcome {
			t.Errorf("%s: outcome %q (error %v), want %s", host, rec.Outcome, rec.Error, outcome)
		}
		_, statErr := os.Stat(filepath.Join(dir, "to-"+host))
		switch {
		case outcome == "copied" && statErr != nil:
			t.Errorf("%s: copied, but the target: %v", host, statErr)
		case outcome == "copied" && fileSHA(t, filepath.Join(dir, "to-"+host)) != fileSHA(t, src):
			t.Errorf("%s: copied, but the target's sha256 differs", host)
		case outcome != "copied" && (statErr == nil || rec.Error == nil || rec.ExitCode != nil):
			t.Errorf("%s (%s): target exists %v, error %v, exit_code %v; want no target, a reason, null", host, outcome, statErr == nil, rec.Error, rec.ExitCode)
		}
	}
	if rec := recs["127.0.0.155"]; rec.Error == nil || !strings.Contains(*rec.Error, "no-file-transfer") {
		t.Errorf("denied host's error %v does not name the rule", rec.Error)
	}
	if strings.Contains(impostor.Logs(), "file received") {
		t.Errorf("a server whose key was not trusted got a put; logs:\n%s", impostor.Logs())
	}

	for h := range want {
		os.Remove(filepath.Join(dir, "to-"+h))
	}
	r = rexec(t, home, nil, args()...)
	if r.code != 255 || r.stdout != "" {
		t.Errorf("prefix cp = %d, stdout %q; want 255 and nothing on stdout", r.code, r.stdout)
	}
	for host, outcome := range want {
		if outcome != "copied" && !strings.Contains(r.stderr, "rexec: "+host+": "+outcome) {
			t.Errorf("prefix stderr %q does not report %s as %s", r.stderr, host, outcome)
		}
	}
}

// TestCpFanoutBadDestination: one host's destination cannot be written
// (its directory is a file): that host is copy_failed with a message
// naming the path and the reason, status 1; the others are copied.
func TestCpFanoutBadDestination(t *testing.T) {
	sc := newCpScene(t, 160, 3, 50000, 14)
	home, port, ips, dir, src := sc.home, sc.port, sc.ips, sc.dir, sc.src
	blocker := filepath.Join(dir, "blocker")
	writeText(t, blocker, "a file, not a directory\n")
	bad := blocker + "/sub/f"
	args := []string{"cp", "-P", port, src, ips[0] + ":" + filepath.Join(dir, "ok0"), ips[1] + ":" + bad, ips[2] + ":" + filepath.Join(dir, "ok2")}
	for _, mode := range []string{"json", "prefix"} {
		r := rexec(t, home, nil, append(args, "--output", mode)...)
		if r.code != 1 {
			t.Errorf("%s: one bad destination = %d, want 1; stderr %q", mode, r.code, r.stderr)
		}
		if mode == "prefix" {
			if !strings.Contains(r.stderr, "rexec: "+ips[1]+": copy_failed: "+ips[1]+":"+bad) || strings.Count(r.stderr, "copy_failed") != 1 {
				t.Errorf("prefix stderr %q; want one copy_failed line for %s naming %s", r.stderr, ips[1], bad)
			}
			continue
		}
		recs := parseCpRecords(t, r.stdout)
		rec := recs[ips[1]]
		if rec.Outcome != "copy_failed" || rec.ExitCode == nil || *rec.ExitCode != 1 || rec.Error == nil ||
			!strings.Contains(*rec.Error, bad) || !strings.Contains(*rec.Error, "not a directory") {
			t.Errorf("bad destination: %+v error %v; want copy_failed 1 naming %s: not a directory", rec, rec.Error, bad)
		}
		for _, i := range []int{0, 2} {
			if rec := recs[ips[i]]; rec.Outcome != "copied" {
				t.Errorf("%s: outcome %s (error %v), want copied", ips[i], rec.Outcome, rec.Error)
			}
			if sha := fileSHA(t, filepath.Join(dir, fmt.Sprintf("ok%d", i))); sha != fileSHA(t, src) {
				t.Errorf("%s: sha256 differs", ips[i])
			}
		}
	}
}

// TestCpFanoutInterruptAndTimeout: SIGINT stops every host's copy
// (connection_lost, 255), --timeout cuts them all (timed_out, 124); in
// both cases the old targets are intact and --resume finishes the copy
// from the partial files.
func TestCpFanoutInterruptAndTimeout(t *testing.T) {
	sc := newCpScene(t, 170, 3, 256<<20, 15)
	home, port, ips, dir, src := sc.home, sc.port, sc.ips, sc.dir, sc.src
	args := []string{"cp", "-P", port, "--output", "json", src}
	for _, ip := range ips {
		target := filepath.Join(dir, "to-"+ip)
		writeText(t, target, "old\n")
		args = append(args, ip+":"+target)
	}
	checkOld := func(when string) {
		for _, ip := range ips {
			if b, err := os.ReadFile(filepath.Join(dir, "to-"+ip)); err != nil || string(b) != "old\n" {
				t.Errorf("%s: target after %s is %.20q, %v; want the old content", ip, when, b, err)
			}
		}
	}

	cmd, wait := startFanout(t, home, args...)
	waitPartFiles(t, dir, 1)
	_ = cmd.Process.Signal(syscall.SIGINT)
	r := wait()
	if r.code != 255 {
		t.Errorf("interrupted cp = %d, want 255; stderr %q", r.code, r.stderr)
	}
	for h, rec := range parseCpRecords(t, r.stdout) {
		if rec.Outcome != "connection_lost" && rec.Outcome != "skipped" {
			t.Errorf("%s: interrupted copy is %s; want connection_lost (or skipped)", h, rec.Outcome)
		}
	}
	checkOld("SIGINT")

	r = rexec(t, home, nil, append(slices.Clone(args), "--timeout", "100ms")...)
	if r.code != 124 {
		t.Errorf("--timeout 100ms = %d, want 124; stderr %q", r.code, r.stderr)
	}
	for h, rec := range parseCpRecords(t, r.stdout) {
		if rec.Outcome != "timed_out" || rec.ExitCode == nil || *rec.ExitCode != 124 || rec.Error == nil {
			t.Errorf("%s: %+v; want timed_out 124 with a reason", h, rec)
		}
	}
	checkOld("--timeout")
	r = rexec(t, home, nil, "cp", "-P", port, "--timeout", "100ms", src, ips[0]+":"+filepath.Join(dir, "to-"+ips[0]))
	if r.code != 124 || !strings.Contains(r.stderr, "--timeout") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("one host with --timeout 100ms = %d, stderr %q; want 124 and one line naming --timeout", r.code, r.stderr)
	}
	checkOld("--timeout on one host")

	r = rexec(t, home, nil, append(slices.Clone(args), "--resume")...)
	if r.code != 0 {
		t.Fatalf("--resume = %d, stderr %q", r.code, r.stderr)
	}
	resumed := 0
	for _, ip := range ips {
		if sha := fileSHA(t, filepath.Join(dir, "to-"+ip)); sha != fileSHA(t, src) {
			t.Errorf("%s: sha256 after --resume differs", ip)
		}
		if rec := parseCpRecords(t, r.stdout)[ip]; rec.Bytes != nil && *rec.Bytes < 256<<20 {
			resumed++
		}
	}
	if resumed == 0 {
		t.Errorf("no host resumed: every one sent the whole file again")
	}
	if left := tempFilesIn(t, dir); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// waitPartFiles waits (bounded) until dir holds n partial files.
func waitPartFiles(t *testing.T, dir string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(tempFilesIn(t, dir)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no partial file appeared in %s", dir)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCpFanoutUsageErrors: operands that are no copy rexec can do are
// refused in one line, with status 2 (1 for a source that is not there),
// before any host is contacted.
func TestCpFanoutUsageErrors(t *testing.T) {
	sc := newCpScene(t, 180, 2, 10, 16)
	home, port, ips, dir, src := sc.home, sc.port, sc.ips, sc.dir, sc.src
	f := sc.fleet
	empty := filepath.Join(dir, "empty-hosts")
	writeText(t, empty, "# nobody\n")
	out := filepath.Join(dir, "out")
	to := func(ip string) string { return ip + ":" + out }
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{src, ":" + out}, 2, "--hosts"},
		{[]string{"--hosts", empty, src, ":" + out}, 2, "no hosts"},
		{[]string{"-x", "127.0.0.[180-181]", src, to(ips[0]), to(ips[1])}, 2, "no hosts"},
		{[]string{"--hosts", empty, src, to(ips[0])}, 2, ":PATH"},
		{[]string{"--hosts", empty, to(ips[0]), ":" + out}, 2, "local"},
		{[]string{to(ips[0]), src, to(ips[0]), to(ips[1])}, 2, "not supported"},
		{[]string{to(ips[0]), to(ips[1])}, 2, "not supported"},
		{[]string{src, ips[0] + ":/a", ips[0] + ":/b"}, 2, "two destinations"},
		{[]string{"--output", "yaml", src, to(ips[0]), to(ips[1])}, 2, "output mode"},
		{[]string{"-f", "0", src, to(ips[0]), to(ips[1])}, 2, "-f"},
		{[]string{"--timeout", "-1s", src, to(ips[0]), to(ips[1])}, 2, "--timeout"},
		{[]string{"--output", "json", to(ips[0]), filepath.Join(dir, "down")}, 2, "download"},
		{[]string{src, "web[3-1]:x"}, 2, "reversed range"},
		{[]string{filepath.Join(dir, "nope"), to(ips[0]), to(ips[1])}, 1, "no such file"},
		{[]string{dir, to(ips[0]), to(ips[1])}, 1, "-r"},
	}
	for _, tt := range tests {
		r := rexec(t, home, nil, append([]string{"cp", "-P", port}, tt.args...)...)
		if r.code != tt.code || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tt.msg) || strings.Contains(r.stderr, "panic") {
			t.Errorf("cp %v = %d, stderr %q; want %d and one line with %q", tt.args, r.code, r.stderr, tt.code, tt.msg)
		}
	}
	if _, err := os.Lstat(out); err == nil {
		t.Error("a refused copy wrote its destination")
	}
	if strings.Contains(f.Logs(), "authenticated") {
		t.Errorf("a refused copy reached a server; logs:\n%s", f.Logs())
	}
}

// TestCpFanoutTerminal: on a terminal each host gets a bar named after
// it, every line written while the bars ran (here the json records, and
// a failed host's line) reaches the screen, and the summary ends it.
func TestCpFanoutTerminal(t *testing.T) {
	sc := newCpScene(t, 190, 2, 64<<20, 17)
	args := []string{"cp", "-P", sc.port, "--output", "json", sc.src, "127.0.0.192:x"}
	for _, ip := range sc.ips {
		args = append(args, ip+":"+filepath.Join(sc.dir, "to-"+ip))
	}
	out, code := onTerminal(t, sc.home, args...)
	if code != 255 {
		t.Errorf("status %d, want 255 (one host unreachable); screen:\n%s", code, out)
	}
	for _, ip := range sc.ips {
		if !regexp.MustCompile(regexp.QuoteMeta(ip) + ` +\[=+`).MatchString(out) {
			t.Errorf("no bar for %s on the screen:\n%q", ip, out)
		}
		if !strings.Contains(out, `{"host":"`+ip+`","outcome":"copied"`) {
			t.Errorf("the record of %s did not reach the screen:\n%q", ip, out)
		}
	}
	if !strings.Contains(out, `{"host":"127.0.0.192","outcome":"connect_failed"`) ||
		!strings.Contains(out, "2 ok, 0 failed, 1 unreachable (127.0.0.192)") {
		t.Errorf("screen lacks the failed host's record or the summary:\n%q", out)
	}
	// One host: a failure printed as the display ends is not lost either.
	out, code = onTerminal(t, sc.home, "cp", "-P", sc.port, filepath.Join(sc.dir, "nope"), sc.ips[0]+":x")
	if code != 1 || !strings.Contains(out, "nope: no such file or directory") {
		t.Errorf("missing source on a terminal: status %d, screen %q; want 1 and the reason", code, out)
	}
}

// onTerminal runs the client with stdout and stderr on a 30x120 terminal
// and returns what it drew and its status, bounded by a minute.
func onTerminal(t *testing.T, home string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rexecBin, args...)
	cmd.Env = append(os.Environ(), "REXEC_HOME="+home)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	screen, _ := io.ReadAll(tty) // ends with EIO once the client exited
	_ = cmd.Wait()
	return string(screen), cmd.ProcessState.ExitCode()
}
