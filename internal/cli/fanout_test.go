package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/fanout"
	"github.com/rexec-dev/rexec/internal/rexectest"
)

// fleet is one `rexec serve` listening on many loopback addresses: Linux
// routes all of 127.0.0.0/8 to lo, so each address is a "host".
type fleet = daemon

// startFleet starts `rexec serve` with REXEC_HOME=home on every listen
// address, with extra environment entries (a PATH giving this daemon's
// sessions their own commands), and waits until it announced them all.
func startFleet(t *testing.T, home string, env []string, listen ...string) *fleet {
	t.Helper()
	// A dropped connection is held for a resume (docs/CLI.md §10.3) for
	// one second here, so a host whose daemon died is given up quickly.
	args := []string{"--grace", "2s", "--resume-window", "1s"}
	for _, l := range listen {
		args = append(args, "--listen", l)
	}
	return &daemon{rexectest.StartDaemon(t, rexecBin, rexectest.DaemonOptions{Home: home, Args: args, Env: env})}
}

// loopbackAddrs returns n listen addresses 127.0.0.first.. on port.
func loopbackAddrs(first, n int, port string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("127.0.0.%d:%s", first+i, port)
	}
	return out
}

// fanRecord is one line of --output json, decoded.
type fanRecord struct {
	Host       string  `json:"host"`
	Outcome    string  `json:"outcome"`
	ExitCode   *int    `json:"exit_code"`
	Signal     *string `json:"signal"`
	Stdout     *string `json:"stdout"`
	Stderr     *string `json:"stderr"`
	DurationMS int64   `json:"duration_ms"`
	Error      *string `json:"error"`
}

// parseRecords checks that out is well-formed json lines carrying every
// field docs/CLI.md §7 names, and returns them by host.
func parseRecords(t *testing.T, out string) map[string]fanRecord {
	t.Helper()
	recs := map[string]fanRecord{}
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("json output does not end with a newline: %q", out)
	}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Fatalf("malformed json line %q: %v", line, err)
		}
		for _, k := range []string{"host", "outcome", "exit_code", "signal", "duration_ms", "error"} {
			if _, ok := fields[k]; !ok {
				t.Fatalf("json line %q lacks %q", line, k)
			}
		}
		for _, s := range []string{"stdout", "stderr"} {
			_, text := fields[s]
			_, b64 := fields[s+"_b64"]
			if text == b64 {
				t.Fatalf("json line %q: want exactly one of %s and %s_b64", line, s, s)
			}
		}
		var r fanRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("json line %q: %v", line, err)
		}
		if _, dup := recs[r.Host]; dup {
			t.Fatalf("host %s reported twice", r.Host)
		}
		recs[r.Host] = r
	}
	return recs
}

func runArgs(flags []string, hosts []string, command ...string) []string {
	args := append([]string{"run"}, flags...)
	args = append(args, hosts...)
	return append(append(args, "--"), command...)
}

// TestFanoutJSON50: 50 servers, --output json: exactly 50 well-formed
// lines, each outcome exited with the host's output.
func TestFanoutJSON50(t *testing.T) {
	home := t.TempDir()
	f := startFleet(t, home, nil, loopbackAddrs(2, 50, "0")...)
	r := rexec(t, home, nil, runArgs([]string{"--output", "json"}, f.Addrs, "echo hello; echo warn >&2")...)
	if r.code != 0 {
		t.Fatalf("fan-out to 50 = %d, stderr %q", r.code, r.stderr)
	}
	if n := strings.Count(r.stdout, "\n"); n != 50 {
		t.Fatalf("json output has %d lines, want 50:\n%s", n, r.stdout)
	}
	recs := parseRecords(t, r.stdout)
	for _, a := range f.Addrs {
		rec, ok := recs[a]
		switch {
		case !ok:
			t.Errorf("no record for %s", a)
		case rec.Outcome != "exited" || rec.ExitCode == nil || *rec.ExitCode != 0 || rec.Error != nil:
			t.Errorf("%s: outcome %s, exit %v, error %v; want exited 0", a, rec.Outcome, rec.ExitCode, rec.Error)
		case *rec.Stdout != "hello\n" || *rec.Stderr != "warn\n" || rec.Signal != nil:
			t.Errorf("%s: stdout %q stderr %q signal %v", a, *rec.Stdout, *rec.Stderr, rec.Signal)
		}
	}
}

// TestFanoutUnreachableHosts: a closed port is connect_failed, a changed
// host key is host_key_mismatch (and runs nothing), a never-seen key
// without --accept-new is host_key_unknown; the others still run, and the
// status is 255.
func TestFanoutUnreachableHosts(t *testing.T) {
	home := t.TempDir()
	good := startFleet(t, home, nil, loopbackAddrs(60, 3, "0")...)
	ln, err := net.Listen("tcp", "127.0.0.63:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	impostor := startFleet(t, t.TempDir(), nil, "127.0.0.64:0")
	stranger := startFleet(t, t.TempDir(), nil, "127.0.0.65:0")
	pinWrongKey(t, home, impostor.Addrs[0])

	hosts := append(slices.Clone(good.Addrs), closed, impostor.Addrs[0], stranger.Addrs[0])
	r := rexec(t, home, nil, runArgs([]string{"--output", "json"}, hosts, "echo ran")...)
	if r.code != 255 {
		t.Errorf("fan-out with unreachable hosts = %d, want 255; stderr %q", r.code, r.stderr)
	}
	recs := parseRecords(t, r.stdout)
	want := map[string]string{closed: "connect_failed", impostor.Addrs[0]: "host_key_mismatch", stranger.Addrs[0]: "host_key_unknown"}
	for _, a := range good.Addrs {
		want[a] = "exited"
	}
	for host, outcome := range want {
		rec := recs[host]
		if rec.Outcome != outcome {
			t.Errorf("%s: outcome %q (error %v), want %s", host, rec.Outcome, rec.Error, outcome)
		}
		if outcome != "exited" && (rec.ExitCode != nil || rec.Error == nil || *rec.Stdout != "") {
			t.Errorf("%s (%s): exit_code %v, error %v, stdout %q; want null, a reason, nothing", host, outcome, rec.ExitCode, rec.Error, *rec.Stdout)
		}
	}
	if len(recs) != len(want) {
		t.Errorf("%d records, want %d", len(recs), len(want))
	}
	for _, d := range []*fleet{impostor, stranger} {
		if strings.Contains(d.Logs(), "session started") {
			t.Errorf("a server whose key was not trusted ran the command; logs:\n%s", d.Logs())
		}
	}

	// prefix mode says the same on stderr, one line per failed host.
	r = rexec(t, home, nil, runArgs(nil, hosts, "echo ran")...)
	if r.code != 255 || strings.Count(r.stdout, ": ran\n") != 3 {
		t.Errorf("prefix fan-out = %d, stdout %q; want 255 and three 'ran' lines", r.code, r.stdout)
	}
	for host, outcome := range want {
		if outcome != "exited" && !strings.Contains(r.stderr, "rexec: "+host+": "+outcome) {
			t.Errorf("prefix stderr %q does not report %s as %s", r.stderr, host, outcome)
		}
	}
}

// pinWrongKey pins the key of home's own daemon for addr, where another
// daemon answers: to the client that server's key has changed.
func pinWrongKey(t *testing.T, home, addr string) {
	t.Helper()
	pub, err := os.ReadFile(filepath.Join(home, "host_ed25519_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(pub))
	host, port, _ := net.SplitHostPort(addr)
	kh, err := os.OpenFile(filepath.Join(home, "known_hosts"), os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer kh.Close()
	if _, err := fmt.Fprintf(kh, "[%s]:%s %s %s\n", host, port, f[0], f[1]); err != nil {
		t.Fatal(err)
	}
}

// readPidFiles waits (bounded) until dir holds n files named pid.*, and
// returns the pids they hold.
func readPidFiles(t *testing.T, dir string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "pid.*"))
		var pids []int
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				pids = append(pids, pid)
			}
		}
		if len(pids) >= n {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d remote commands started", len(pids), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pidCommand makes each remote shell write its pid to dir/pid.PID, then
// become cmd (exec keeps the pid).
func pidCommand(dir, cmd string) string {
	return fmt.Sprintf("echo $$ > %s/pid.$$.tmp && mv %s/pid.$$.tmp %s/pid.$$; exec %s", dir, dir, dir, cmd)
}

// TestFanoutTimeout: `sleep 100` with --timeout 1s is timed_out (124) on
// every host, and the remote processes are gone.
func TestFanoutTimeout(t *testing.T) {
	home := t.TempDir()
	f := startFleet(t, home, nil, loopbackAddrs(70, 3, "0")...)
	dir := t.TempDir()
	start := time.Now()
	r := rexec(t, home, nil, runArgs([]string{"--output", "json", "--timeout", "1s"}, f.Addrs, pidCommand(dir, "sleep 100"))...)
	if took := time.Since(start); r.code != 124 || took > 10*time.Second {
		t.Errorf("--timeout 1s fan-out = %d after %v, want 124 within seconds; stderr %q", r.code, took, r.stderr)
	}
	for host, rec := range parseRecords(t, r.stdout) {
		if rec.Outcome != "timed_out" || rec.ExitCode == nil || *rec.ExitCode != 124 {
			t.Errorf("%s: outcome %s exit %v, want timed_out 124", host, rec.Outcome, rec.ExitCode)
		}
	}
	pids := readPidFiles(t, dir, 3)
	if alive := rexectest.WaitGone(3*time.Second, pids...); len(alive) > 0 {
		t.Errorf("remote sleeps %v still alive after timed_out", alive)
	}
}

// TestFanoutExitCodes: the status is the highest remote code; each host's
// own code is in its record. Two daemons give their sessions different
// PATHs, so the same command exits 3 on one and 7 on the other.
func TestFanoutExitCodes(t *testing.T) {
	home := t.TempDir()
	three := startFleet(t, home, []string{"PATH=" + scriptDir(t, "code", "exit 3") + ":" + os.Getenv("PATH")}, loopbackAddrs(75, 2, "0")...)
	seven := startFleet(t, home, []string{"PATH=" + scriptDir(t, "code", "exit 7") + ":" + os.Getenv("PATH")}, "127.0.0.77:0")
	r := rexec(t, home, nil, runArgs([]string{"--output", "json"}, three.Addrs, "exit 3")...)
	if r.code != 3 {
		t.Errorf("exit 3 on every host = %d, want 3; stderr %q", r.code, r.stderr)
	}
	hosts := append(slices.Clone(three.Addrs), seven.Addrs...)
	r = rexec(t, home, nil, runArgs([]string{"--output", "json"}, hosts, "code")...)
	if r.code != 7 {
		t.Errorf("exit 3, 3, 7 = %d, want the highest, 7; stderr %q", r.code, r.stderr)
	}
	recs := parseRecords(t, r.stdout)
	for _, h := range hosts {
		want := 3
		if h == seven.Addrs[0] {
			want = 7
		}
		if rec := recs[h]; rec.Outcome != "exited" || rec.ExitCode == nil || *rec.ExitCode != want {
			t.Errorf("%s: outcome %s exit %v, want exited %d", h, rec.Outcome, rec.ExitCode, want)
		}
	}
	r = rexec(t, home, nil, runArgs(nil, hosts, "kill -9 $$")...)
	if r.code != 137 {
		t.Errorf("SIGKILL on every host = %d, want 137", r.code)
	}
}

// scriptDir returns a directory holding an executable sh script name.
func scriptDir(t *testing.T, name, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestFanoutPrefix50x1000: 50 hosts printing 1,000 lines each at full
// speed: every line comes out whole, prefixed by its host, each host's
// lines complete and in order; stderr lines go to stderr, prefixed too.
func TestFanoutPrefix50x1000(t *testing.T) {
	home := t.TempDir()
	f := startFleet(t, home, nil, loopbackAddrs(2, 50, "0")...)
	r := rexec(t, home, nil, runArgs(nil, f.Addrs, `seq 1000 | sed "s/^/line /"; echo oops >&2; printf tail`)...)
	if r.code != 0 {
		t.Fatalf("prefix fan-out = %d, stderr %q", r.code, r.stderr)
	}
	next := map[string]int{}
	tails := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		host, text, ok := strings.Cut(line, ": ")
		if !ok || !slices.Contains(f.Addrs, host) {
			t.Fatalf("line %.200q has no known host prefix", line)
		}
		if text == "tail" && next[host] == 1000 && !tails[host] {
			tails[host] = true
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(text, "line "))
		if err != nil || !strings.HasPrefix(text, "line ") || n != next[host]+1 {
			t.Fatalf("%s: torn or out-of-order line %.200q after line %d", host, text, next[host])
		}
		next[host] = n
	}
	for _, a := range f.Addrs {
		if next[a] != 1000 || !tails[a] {
			t.Errorf("%s: %d lines (tail %v), want 1000 and the final partial line", a, next[a], tails[a])
		}
		if !strings.Contains(r.stderr, a+": oops\n") {
			t.Errorf("stderr lacks %s: oops", a)
		}
	}
	if strings.Count(r.stderr, "\n") != 50 {
		t.Errorf("stderr has %d lines, want 50:\n%s", strings.Count(r.stderr, "\n"), r.stderr)
	}
}

// TestFanoutGroup: identical outputs print once under their host list;
// different outputs get their own block.
func TestFanoutGroup(t *testing.T) {
	home := t.TempDir()
	alpha := startFleet(t, home, []string{"PATH=" + scriptDir(t, "role", "echo alpha") + ":" + os.Getenv("PATH")}, loopbackAddrs(80, 4, "0")...)
	beta := startFleet(t, home, []string{"PATH=" + scriptDir(t, "role", "echo beta") + ":" + os.Getenv("PATH")}, loopbackAddrs(84, 2, "0")...)
	r := rexec(t, home, nil, runArgs([]string{"--output", "group"}, alpha.Addrs, "echo same; echo lines")...)
	blocks := parseGroups(t, r.stdout)
	if r.code != 0 || len(blocks) != 1 || blocks[0].body != "same\nlines\n" || !sameHosts(blocks[0].hosts, alpha.Addrs) {
		t.Fatalf("group of identical outputs = %d, %+v; want one block for all 4 hosts:\n%s", r.code, blocks, r.stdout)
	}
	hosts := append(slices.Clone(alpha.Addrs), beta.Addrs...)
	r = rexec(t, home, nil, runArgs([]string{"--output", "group"}, hosts, "role")...)
	blocks = parseGroups(t, r.stdout)
	if r.code != 0 || len(blocks) != 2 || blocks[0].body != "alpha\n" || blocks[1].body != "beta\n" ||
		!sameHosts(blocks[0].hosts, alpha.Addrs) || !sameHosts(blocks[1].hosts, beta.Addrs) {
		t.Fatalf("group of two outputs = %d, %+v; want alpha for 4 hosts then beta for 2:\n%s", r.code, blocks, r.stdout)
	}
}

type groupBlock struct {
	hosts []string
	body  string
}

// parseGroups splits dshbak -c style output into blocks, expanding each
// header back into hosts.
func parseGroups(t *testing.T, out string) []groupBlock {
	t.Helper()
	var blocks []groupBlock
	lines := strings.SplitAfter(out, "\n")
	for i := 0; i < len(lines); i++ {
		if i+2 < len(lines) && strings.HasPrefix(lines[i], "----------------") && strings.HasPrefix(lines[i+2], "----------------") {
			hosts, err := fanout.Expand(strings.TrimSpace(lines[i+1]))
			if err != nil {
				t.Fatalf("group header %q: %v", lines[i+1], err)
			}
			blocks = append(blocks, groupBlock{hosts: hosts})
			i += 2
			continue
		}
		if len(blocks) == 0 {
			if lines[i] != "" {
				t.Fatalf("output before the first group header: %q", lines[i])
			}
			continue
		}
		blocks[len(blocks)-1].body += lines[i]
	}
	return blocks
}

func sameHosts(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// startFanout starts a fan-out client in the background; wait returns
// its stdout, stderr and status, bounded by a minute.
func startFanout(t *testing.T, home string, args ...string) (cmd *exec.Cmd, wait func() result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd = exec.CommandContext(ctx, rexecBin, args...)
	cmd.Env = append(os.Environ(), "REXEC_HOME="+home)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	return cmd, func() result {
		defer cancel()
		err := cmd.Wait()
		var ee *exec.ExitError
		if ctx.Err() != nil || err != nil && !errors.As(err, &ee) {
			t.Fatalf("rexec %v: %v (ctx %v); stderr %q", args, err, ctx.Err(), errb.String())
		}
		return result{stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode()}
	}
}

// TestFanoutConnectionLost: the daemon dies (SIGKILL) mid-command: every
// host is connection_lost and the status 255, never success.
func TestFanoutConnectionLost(t *testing.T) {
	home := t.TempDir()
	f := startFleet(t, home, nil, loopbackAddrs(90, 3, "0")...)
	dir := t.TempDir()
	_, wait := startFanout(t, home, runArgs([]string{"--output", "json"}, f.Addrs, pidCommand(dir, "sleep 5"))...)
	readPidFiles(t, dir, 3)
	f.Kill(t)
	r := wait()
	if r.code != 255 {
		t.Errorf("daemon killed mid-command: status %d, want 255; stderr %q", r.code, r.stderr)
	}
	recs := parseRecords(t, r.stdout)
	for _, a := range f.Addrs {
		if rec := recs[a]; rec.Outcome != "connection_lost" || rec.ExitCode != nil || rec.Error == nil {
			t.Errorf("%s: outcome %q exit %v error %v; want connection_lost, no exit code, a reason", a, rec.Outcome, rec.ExitCode, rec.Error)
		}
	}
}

// TestFanoutNoExitAfterTimeout: a server that stops answering (SIGSTOP)
// cannot hold the client past --timeout plus fanout.TimeoutSlack; the host
// is connection_lost, and once the server runs again it kills the command
// of the connection the client closed.
func TestFanoutNoExitAfterTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the timeout slack")
	}
	home := t.TempDir()
	f := startFleet(t, home, nil, "127.0.0.95:0")
	dir := t.TempDir()
	start := time.Now()
	_, wait := startFanout(t, home, runArgs([]string{"--output", "json", "--timeout", "3s"}, f.Addrs, pidCommand(dir, "sleep 100"))...)
	pids := readPidFiles(t, dir, 1)
	_ = f.Cmd.Process.Signal(syscall.SIGSTOP)
	r := wait()
	took := time.Since(start)
	_ = f.Cmd.Process.Signal(syscall.SIGCONT)
	rec := parseRecords(t, r.stdout)[f.Addrs[0]]
	if r.code != 255 || rec.Outcome != "connection_lost" || rec.Error == nil || !strings.Contains(*rec.Error, "after the timeout") {
		t.Errorf("stopped server: status %d, %+v; want 255, connection_lost after the timeout", r.code, rec)
	}
	if limit := 3*time.Second + fanout.TimeoutSlack + 3*time.Second; took > limit {
		t.Errorf("client gave up after %v, want within %v", took, limit)
	}
	if alive := rexectest.WaitGone(5*time.Second, pids...); len(alive) > 0 {
		t.Errorf("remote sleep %v alive after the server resumed", alive)
	}
}

// TestFanoutInterrupt: SIGINT to the client stops the fan-out at once,
// every remote command is killed, and nothing claims success.
func TestFanoutInterrupt(t *testing.T) {
	home := t.TempDir()
	f := startFleet(t, home, nil, loopbackAddrs(100, 4, "0")...)
	dir := t.TempDir()
	cmd, wait := startFanout(t, home, runArgs([]string{"--output", "json", "-f", "3"}, f.Addrs, pidCommand(dir, "sleep 100"))...)
	pids := readPidFiles(t, dir, 3)
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGINT)
	r := wait()
	if took := time.Since(start); r.code != 255 || took > 5*time.Second {
		t.Errorf("interrupted fan-out: status %d after %v, want 255 at once; stderr %q", r.code, took, r.stderr)
	}
	outcomes := map[string]int{}
	for _, rec := range parseRecords(t, r.stdout) {
		outcomes[rec.Outcome]++
	}
	if outcomes["connection_lost"] != 3 || outcomes["skipped"] != 1 {
		t.Errorf("interrupted outcomes %v, want 3 connection_lost and 1 skipped", outcomes)
	}
	if alive := rexectest.WaitGone(5*time.Second, pids...); len(alive) > 0 {
		t.Errorf("remote sleeps %v survived the interrupt", alive)
	}
}

// TestFanoutHostList: --hosts files with comments and ranges, stdin as
// the file, -x exclusion and duplicates, on daemons sharing one port.
func TestFanoutHostList(t *testing.T) {
	home := t.TempDir()
	port := sharedFreePort(t, 110, 5)
	f := startFleet(t, home, nil, loopbackAddrs(110, 5, port)...)
	file := filepath.Join(t.TempDir(), "hosts")
	content := fmt.Sprintf("# the fleet\n127.0.0.[110-113]:%s\n\n127.0.0.114:%s   # the last one\n127.0.0.110:%s\n", port, port, port)
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  []string
	}{
		{"file", "", runArgs([]string{"--output", "json", "--hosts", file}, nil, "true"), f.Addrs},
		{"file without --", "", []string{"run", "--output", "json", "--hosts", file, "true"}, f.Addrs},
		{"stdin", content, runArgs([]string{"--output", "json", "--hosts", "-"}, nil, "true"), f.Addrs},
		{"exclude", "", runArgs([]string{"--output", "json", "--hosts", file, "-x", "127.0.0.[111-112]:" + port}, nil, "true"),
			[]string{f.Addrs[0], f.Addrs[3], f.Addrs[4]}},
		{"range argument", "", runArgs([]string{"--output", "json"}, []string{"127.0.0.[110-111]:" + port, "127.0.0.110:" + port}, "true"),
			f.Addrs[:2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rexec(t, home, strings.NewReader(tt.stdin), tt.args...)
			recs := parseRecords(t, r.stdout)
			var got []string
			for h, rec := range recs {
				if rec.Outcome == "exited" {
					got = append(got, h)
				}
			}
			if r.code != 0 || !sameHosts(got, tt.want) || len(recs) != len(tt.want) {
				t.Errorf("%v = %d, ran on %v; want 0 on %v; stderr %q", tt.args, r.code, got, tt.want, r.stderr)
			}
		})
	}
}

// sharedFreePort finds a port free on n consecutive 127.0.0.x addresses.
func sharedFreePort(t *testing.T, first, n int) string {
	t.Helper()
	for range 10 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", first))
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		ln.Close()
		free := true
		for _, a := range loopbackAddrs(first, n, port) {
			l, err := net.Listen("tcp", a)
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return port
		}
	}
	t.Fatal("no port free on all addresses")
	return ""
}

// TestFanoutFailFast: with -f 1 and --fail-fast, the first failure stops
// the rollout; the hosts not started are skipped and say why.
func TestFanoutFailFast(t *testing.T) {
	home := t.TempDir()
	f := startFleet(t, home, nil, loopbackAddrs(120, 3, "0")...)
	ln, err := net.Listen("tcp", "127.0.0.123:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	hosts := append([]string{closed}, f.Addrs...)
	r := rexec(t, home, nil, runArgs([]string{"--output", "json", "-f", "1", "--fail-fast"}, hosts, "true")...)
	recs := parseRecords(t, r.stdout)
	if r.code != 255 || recs[closed].Outcome != "connect_failed" {
		t.Errorf("--fail-fast = %d, first host %+v; want 255 and connect_failed", r.code, recs[closed])
	}
	for _, a := range f.Addrs {
		if rec := recs[a]; rec.Outcome != "skipped" || rec.Error == nil || !strings.Contains(*rec.Error, "fail-fast") {
			t.Errorf("%s after a failure with --fail-fast: %+v; want skipped naming --fail-fast", a, rec)
		}
	}
}

// TestFanoutUsageErrors: mistakes in fan-out flags are usage errors (2)
// and run nothing.
func TestFanoutUsageErrors(t *testing.T) {
	home := t.TempDir()
	f := startFleet(t, home, nil, loopbackAddrs(125, 2, "0")...)
	marker := filepath.Join(t.TempDir(), "ran")
	tests := [][]string{
		runArgs([]string{"-t"}, f.Addrs, "touch "+marker),
		runArgs([]string{"--output", "yaml"}, f.Addrs, "touch "+marker),
		runArgs([]string{"--batch", "0"}, f.Addrs, "touch "+marker),
		runArgs([]string{"--max-failures", "x%"}, f.Addrs, "touch "+marker),
		runArgs([]string{"-f", "0"}, f.Addrs, "touch "+marker),
		runArgs(nil, []string{"web[3-1]"}, "touch "+marker),
		runArgs([]string{"-x", f.Addrs[0], "-x", f.Addrs[1]}, f.Addrs, "touch "+marker),
		runArgs([]string{"--hosts", "/nonexistent/hosts"}, nil, "touch "+marker),
	}
	for _, args := range tests {
		r := rexec(t, home, nil, args...)
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v = %d, stderr %q; want 2 and one line", args, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a refused fan-out ran the command")
	}
}
