//go:build linux

package cli_test

// The pre-authentication must-holds of issue 7 (docs/CLI.md §8): floods of idle
// and dripping connections, and a flood past the daemon's descriptor
// limit. The flood is cmd/rexec-flood, a process of its own, so the
// daemon's memory, descriptors and CPU read from /proc are the daemon's
// alone. The figures go to docs/TESTING.md, "Pre-auth floods"; run these
// with `make flood` (-v prints them).

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/config"
	"github.com/rexec-dev/rexec/internal/flood"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
)

// Bars of issue 7's must-holds.
const (
	// deadlineSlack is how long after its login grace a connection may
	// still be open: "closed by deadline + 1 s".
	deadlineSlack = time.Second
	// earlySlack is how much earlier than the grace a close may be seen
	// and still be the deadline's: the flood stamps a connection when its
	// dial goroutine runs again, which on a loaded machine may be most of
	// a second after the server accepted it and started the deadline
	// (docs/BENCHMARKS.md, "Figures that used to be in comments").
	// Anything else would close it at once.
	earlySlack = time.Second
	// maxP99 bounds the 99th percentile of a legitimate client's
	// connect+run during the flood.
	maxP99 = 200 * time.Millisecond
	// maxRSSGrowth bounds the daemon's resident memory growth under the
	// 10,000-connection flood.
	maxRSSGrowth = 64 << 20
	// maxCPUShare bounds the daemon's CPU over the descriptor flood, as
	// a share of one core: an accept loop spinning on EMFILE takes 100%.
	maxCPUShare = 0.5
	// maxResume bounds the time from the flood's end to a working
	// `rexec run`.
	maxResume = time.Second
)

// dialTimeout is the flood's bound of one dial: past the kernel's SYN
// retries at 1, 3 and 7 s, so a backlog that overflowed for a moment
// costs time, not connections.
const dialTimeout = "15s"

// no is the value of --per-source-max and --max-startups that takes a cap
// out of the way, so the login deadline is what closes connections.
// (--per-source-max -1, "no cap" in its help, is refused today by the
// config file's validation of negative counts.)
const no = "100000"

var (
	floodOnce sync.Once
	floodBin  string
	floodErr  error
)

// underRace is set by flood_race_test.go under the race detector.
var underRace bool

// skipFlood skips a flood test in -short, and under the race detector:
// the daemon and the flood are separate binaries built without it, so
// -race instruments only this process's client, whose latency it then
// measures instead of the daemon's.
func skipFlood(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("flood: not in -short")
	}
	if underRace {
		t.Skip("flood: timing bars are not measured under the race detector")
	}
}

// floodBinary builds cmd/rexec-flood once, next to rexecBin, so TestMain's
// clean-up removes it.
func floodBinary(t *testing.T) string {
	t.Helper()
	floodOnce.Do(func() { floodBin, floodErr = rexectest.Build(filepath.Dir(rexecBin), rexectest.FloodPkg) })
	if floodErr != nil {
		t.Fatal(floodErr)
	}
	return floodBin
}

// floodProc is a running rexec-flood and what its report said so far.
type floodProc struct {
	cmd       *exec.Cmd
	stderr    bytes.Buffer
	connected chan flood.Connected
	done      chan struct{} // closed when the report ended and the process was waited for
	exited    time.Time     // when the process was seen to exit; valid after done

	// Valid after done:
	closes  []flood.Closed
	summary *flood.Summary
	err     error // a bad report line, or the process's exit status
}

// startFlood runs rexec-flood with args; a test's clean-up kills it if it
// is still running.
func startFlood(t *testing.T, args ...string) *floodProc {
	t.Helper()
	f := &floodProc{cmd: exec.Command(floodBinary(t), args...),
		connected: make(chan flood.Connected, 1), done: make(chan struct{})}
	f.cmd.Stderr = &f.stderr
	stdout, err := f.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go f.read(stdout)
	t.Cleanup(func() {
		_ = f.cmd.Process.Kill()
		<-f.done
	})
	return f
}

func (f *floodProc) read(stdout io.Reader) {
	defer close(f.done)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		v, err := flood.Decode(sc.Bytes())
		if err != nil && f.err == nil {
			f.err = err
		}
		switch v := v.(type) {
		case flood.Connected:
			select {
			case f.connected <- v:
			default: // a second one: Decode's business, not ours
			}
		case flood.Closed:
			f.closes = append(f.closes, v)
		case flood.Summary:
			f.summary = &v
		}
	}
	if err := f.cmd.Wait(); err != nil && f.err == nil {
		f.err = fmt.Errorf("rexec-flood: %v; stderr %q", err, f.stderr.String())
	}
	f.exited = time.Now()
}

// waitConnected returns the flood's Connected line: every dial has ended.
func (f *floodProc) waitConnected(t *testing.T, within time.Duration) flood.Connected {
	t.Helper()
	select {
	case c := <-f.connected:
		return c
	case <-f.done:
		t.Fatalf("rexec-flood ended before connecting: %v", f.err)
	case <-time.After(within):
		t.Fatalf("rexec-flood did not finish dialing within %v", within)
	}
	return flood.Connected{}
}

// wait waits for the flood to end and returns its summary.
func (f *floodProc) wait(t *testing.T, within time.Duration) flood.Summary {
	t.Helper()
	select {
	case <-f.done:
	case <-time.After(within):
		t.Fatalf("rexec-flood did not end within %v", within)
	}
	if f.err != nil || f.summary == nil {
		t.Fatalf("rexec-flood: %v, summary %v", f.err, f.summary)
	}
	return *f.summary
}

// checkDeadlineCloses checks that the server closed every one of the
// flood's connections, none later than grace+deadlineSlack after it
// connected, and those it held, not before grace-earlySlack.
func checkDeadlineCloses(t *testing.T, f *floodProc, s flood.Summary, grace time.Duration, held bool) {
	t.Helper()
	if s.StillOpen != 0 || s.ClosedByServer != s.Connected || len(f.closes) != s.Connected {
		t.Errorf("server closed %d of %d connections (%d close lines), %d still open; want all closed",
			s.ClosedByServer, s.Connected, len(f.closes), s.StillOpen)
	}
	late, early := 0, 0
	for _, c := range f.closes {
		after := time.Duration(c.AfterMS * float64(time.Millisecond))
		if after > grace+deadlineSlack {
			late++
		}
		if held && after < grace-earlySlack {
			early++
		}
	}
	if late > 0 {
		t.Errorf("%d connections closed later than grace %v + %v (max %.0f ms)", late, grace, deadlineSlack, s.CloseMaxMS)
	}
	if early > 0 {
		t.Errorf("%d connections closed before grace %v - %v (min %.0f ms): not by the deadline", early, grace, earlySlack, s.CloseMinMS)
	}
}

// clientFrom is an in-process client of d whose connections come from the
// source address from: the client binary cannot choose its source, and
// the flood's source is penalised once its connections expire.
func clientFrom(t *testing.T, d *daemon, from string) (client.Config, client.Target) {
	t.Helper()
	id, err := auth.LoadIdentity(filepath.Join(d.Home, config.IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(d.Port())
	local := &net.TCPAddr{IP: net.ParseIP(from)}
	cfg := client.Config{Identity: id, KnownHosts: auth.KnownHosts{Path: filepath.Join(d.Home, config.KnownHostsFile)},
		ConnectTimeout: 10 * time.Second, Software: "rexec-flood-test",
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dl := net.Dialer{LocalAddr: local}
			return dl.DialContext(ctx, network, addr)
		}}
	return cfg, client.Target{Host: "127.0.0.1", Port: port}
}

// runTrue connects, runs `true` and disconnects, bounded by 10 s, and
// returns how long that took.
func runTrue(cfg client.Config, target client.Target) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	c, err := client.Dial(ctx, cfg, target)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var out, errb bytes.Buffer
	res, err := c.Run(ctx, protocol.Exec{Argv: []string{"true"}}, client.IO{Stdout: &out, Stderr: &errb})
	if err == nil && (res.Exit.Code != 0 || res.Outcome() != outcome.Exited) {
		err = fmt.Errorf("true ended %+v, stderr %q", res.Exit, errb.String())
	}
	return time.Since(start), err
}

// procStatusKB reads a "Name:  N kB" field of /proc/PID/status.
func procStatusKB(t *testing.T, pid int, name string) int64 {
	t.Helper()
	n, ok := rexectest.Status(pid, name)
	if !ok {
		t.Fatalf("/proc/%d/status has no %s", pid, name)
	}
	return n
}

// nofile returns pid's RLIMIT_NOFILE soft limit from /proc/PID/limits.
func nofile(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			if n, err := strconv.Atoi(strings.Fields(rest)[0]); err == nil {
				return n
			}
		}
	}
	t.Fatalf("/proc/%d/limits: no open files limit in %q", pid, b)
	return 0
}

// heldEnv, set to 1, adds TestFloodIdle10k's "caps lifted" case, which
// makes the daemon hold all 10,000 connections until their deadline. It
// is left out of the default run because it measures the machine as much
// as the daemon: 10,000 deadlines expire within a second, and on a
// machine whose other load leaves the daemon a tenth of a core, closing
// them takes longer than the 1 s the must-hold allows (docs/TESTING.md).
const heldEnv = "REXEC_FLOOD_HELD"

// TestFloodIdle10k: 10,000 idle TCP connections from 127.0.0.1 while a
// client on 127.0.0.2 runs 100 commands: 100/100 succeed, p99 < 200 ms;
// every idle connection closed by deadline + 1 s; daemon RSS growth
// < 64 MiB. "shipped limits" is the daemon as installed, which sheds all
// but --per-source-max of them at accept; "caps lifted" (with
// REXEC_FLOOD_HELD=1) makes it hold all 10,000 until the deadline.
func TestFloodIdle10k(t *testing.T) {
	skipFlood(t)
	const conns = 10000
	tests := []struct {
		name  string
		grace time.Duration
		flags []string
		held  bool
		// rssBudget bounds RSS growth: issue 7's 64 MiB with the shipped
		// limits; with the caps lifted the daemon holds every
		// connection, and the bound is per connection held (measured
		// 15-17 KiB: an 8 KiB goroutine stack blocked in the TLS
		// handshake, 4 KiB of heap, the kernel's share), with room to
		// spare.
		rssBudget int64
	}{
		{"shipped limits", 3 * time.Second, nil, false, maxRSSGrowth},
		{"caps lifted", 5 * time.Second, []string{"--per-source-max", no, "--max-startups", no}, true, conns * 24 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.held && os.Getenv(heldEnv) != "1" {
				t.Skipf("set %s=1 to hold 10,000 connections until their deadline", heldEnv)
			}
			home := t.TempDir()
			d := startDaemon(t, home, append([]string{"--login-grace", tt.grace.String()}, tt.flags...)...)
			pid := d.Cmd.Process.Pid
			if lim := nofile(t, pid); tt.held && lim < conns+100 {
				t.Skipf("daemon's open files limit %d is below %d connections", lim, conns)
			}
			cfg, target := clientFrom(t, d, "127.0.0.2")
			if _, err := runTrue(cfg, target); err != nil {
				t.Fatalf("run before the flood: %v", err)
			}
			rss0 := procStatusKB(t, pid, "VmRSS")

			f := startFlood(t, "--conns", strconv.Itoa(conns), "--from", "127.0.0.1", "--mode", "idle",
				"--dial-timeout", dialTimeout, "--hold", (tt.grace + 30*time.Second).String(), "127.0.0.1:"+d.Port())
			c := f.waitConnected(t, 30*time.Second)
			if c.Connected != conns {
				t.Fatalf("flood connected %d of %d (dial errors %v)", c.Connected, conns, c.DialErrors)
			}
			drained := waitAcceptQueue(t, d.Port(), 10*time.Second)
			lat, failed, firstErr := run100(cfg, target)
			s := f.wait(t, tt.grace+40*time.Second)
			growth := (procStatusKB(t, pid, "VmHWM") - rss0) << 10

			checkDeadlineCloses(t, f, s, tt.grace, tt.held)
			if len(lat) == 0 {
				t.Fatalf("all 100 commands failed, first: %v", firstErr)
			}
			slices.Sort(lat)
			p99 := flood.Percentile(lat, 99)
			if failed > 0 {
				t.Errorf("%d of 100 commands failed, first: %v", failed, firstErr)
			}
			if p99 > maxP99 {
				t.Errorf("p99 of connect+run true = %v, want < %v", p99, maxP99)
			}
			if growth > tt.rssBudget {
				t.Errorf("daemon RSS grew %d MiB (peak VmHWM - VmRSS before), want < %d MiB", growth>>20, tt.rssBudget>>20)
			}
			t.Logf("flood: %d connected in %.0f ms, accept queue empty %v later; server closed %d, close after min %.0f / p99 %.0f / max %.0f ms (grace %v)",
				c.Connected, c.ElapsedMS, drained.Round(time.Millisecond), s.ClosedByServer, s.CloseMinMS, s.CloseP99MS, s.CloseMaxMS, tt.grace)
			t.Logf("client on 127.0.0.2: %d/100 ok, connect+run true p50 %v p99 %v max %v; daemon RSS %d MiB before, peak growth %.1f MiB",
				100-failed, flood.Percentile(lat, 50).Round(time.Millisecond), p99.Round(time.Millisecond),
				lat[len(lat)-1].Round(time.Millisecond), rss0>>10, float64(growth)/(1<<20))
		})
	}
}

// waitAcceptQueue waits until the daemon has taken every connection off
// its listen queue (the listening socket's rx_queue in /proc/net/tcp) and
// returns how long that took. The client's commands start then: a connect
// storm faster than the daemon accepts fills the queue, and the kernel
// drops every SYN, the client's too, until there is room (a 1 s
// retransmit): the SYN-flood watch's business, not this must-hold's.
func waitAcceptQueue(t *testing.T, port string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		n, err := acceptQueue(port)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("daemon's accept queue still holds %d connections after %v", n, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// acceptQueue reads how many connections wait on the loopback listener of
// port to be accepted.
func acceptQueue(port string) (int, error) {
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0, err
	}
	local := fmt.Sprintf("0100007F:%04X", p)
	for line := range strings.Lines(string(b)) {
		// sl local_address rem_address st tx_queue:rx_queue ...
		f := strings.Fields(line)
		if len(f) < 5 || f[1] != local || f[3] != "0A" {
			continue
		}
		_, rx, _ := strings.Cut(f[4], ":")
		n, err := strconv.ParseInt(rx, 16, 64)
		return int(n), err
	}
	return 0, fmt.Errorf("no listener on %s in /proc/net/tcp", local)
}

// run100 runs `true` 100 times, one after another (a loaded 2-core CI
// machine measures queueing, not the daemon, with more at once), within a
// minute in all, and returns each latency, how many failed or were not
// run, and the first error.
func run100(cfg client.Config, target client.Target) (lat []time.Duration, failed int, first error) {
	deadline := time.Now().Add(time.Minute)
	for i := range 100 {
		if time.Now().After(deadline) {
			return lat, failed + 100 - i, fmt.Errorf("only %d commands ran within a minute (first error: %v)", i, first)
		}
		d, err := runTrue(cfg, target)
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
			continue
		}
		lat = append(lat, d)
	}
	return lat, failed, first
}

// TestFloodDrip2000: 2,000 connections dripping one byte at a time are
// all closed at the deadline. The issue drips every 5 s against the
// default 20 s grace; here the grace is 3 s and the drip keeps the same
// ratio or tighter (every 500 ms, six bytes within the grace), so an idle
// timeout that each byte reset would never fire. The caps are lifted so
// that the deadline, not the caps, closes them.
func TestFloodDrip2000(t *testing.T) {
	skipFlood(t)
	const (
		conns    = 2000
		grace    = 3 * time.Second
		every    = 500 * time.Millisecond
		minBytes = 4 // bytes each connection must have sent before the deadline: a drip, not a burst
	)
	d := startDaemon(t, t.TempDir(), "--login-grace", grace.String(), "--per-source-max", no, "--max-startups", "5000")
	f := startFlood(t, "--conns", strconv.Itoa(conns), "--from", "127.0.0.1", "--mode", "drip",
		"--drip-every", every.String(), "--dial-timeout", dialTimeout, "--hold", "30s", "127.0.0.1:"+d.Port())
	if c := f.waitConnected(t, 30*time.Second); c.Connected != conns {
		t.Fatalf("flood connected %d of %d (dial errors %v)", c.Connected, conns, c.DialErrors)
	}
	s := f.wait(t, 40*time.Second)
	checkDeadlineCloses(t, f, s, grace, true)
	short := 0
	for _, c := range f.closes {
		if c.Sent < minBytes {
			short++
		}
	}
	if short > 0 {
		t.Errorf("%d connections sent fewer than %d bytes before the server closed them: not dripping", short, minBytes)
	}
	t.Logf("drip: %d connections, %d bytes sent; server closed %d, close after min %.0f / p99 %.0f / max %.0f ms (grace %v)",
		s.Connected, s.BytesSent, s.ClosedByServer, s.CloseMinMS, s.CloseP99MS, s.CloseMaxMS, grace)
}

// TestFloodPastFDLimit: under RLIMIT_NOFILE 2000, a 3,000-connection
// flood (caps lifted, so the descriptors run out) leaves an authenticated
// session working and the daemon's CPU low (its accept loop backs off on
// EMFILE instead of spinning), and service resumes within 1 s after the
// flood. The flood comes from 127.0.0.3 so that the penalties its
// connections earn do not touch the clients on 127.0.0.1.
//
// The limit is set on the running daemon with `prlimit --pid`, the same
// limit `prlimit --nofile=2000:2000 rexec serve` would start it with,
// without a second copy of startDaemon.
func TestFloodPastFDLimit(t *testing.T) {
	skipFlood(t)
	const (
		limit = 2000
		conns = 3000
		hold  = 6 * time.Second
	)
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit not installed (util-linux)")
	}
	home := t.TempDir()
	d := startDaemon(t, home, "--per-source-max", no, "--max-startups", no)
	pid := d.Cmd.Process.Pid
	lim := fmt.Sprintf("--nofile=%d:%d", limit, limit)
	if out, err := exec.Command("prlimit", "--pid", strconv.Itoa(pid), lim).CombinedOutput(); err != nil {
		t.Fatalf("prlimit %s: %v %s", lim, err, out)
	}
	if got := nofile(t, pid); got != limit {
		t.Fatalf("daemon open files limit %d after prlimit, want %d", got, limit)
	}

	sess := startSession(t, d, "echo started; sleep 4; echo done")
	cpu0, t0 := rexectest.CPU(pid), time.Now()
	f := startFlood(t, "--conns", strconv.Itoa(conns), "--from", "127.0.0.3", "--mode", "idle",
		"--dial-timeout", dialTimeout, "--hold", hold.String(), "127.0.0.1:"+d.Port())
	c := f.waitConnected(t, 30*time.Second)
	fds := waitFDs(pid, limit-10, 5*time.Second)

	out, err := sess.wait(20 * time.Second)
	if err != nil || out != "started\ndone\n" {
		t.Errorf("session started before the flood: output %q, err %v; want started, done and exit 0", out, err)
	}
	s := f.wait(t, hold+20*time.Second)
	cpu := rexectest.CPU(pid) - cpu0
	window := f.exited.Sub(t0)
	resume, attempts, lastErr := resumeAfter(t, d, f.exited)

	if c.Connected != conns {
		t.Errorf("flood connected %d of %d (dial errors %v)", c.Connected, conns, c.DialErrors)
	}
	if fds < limit-10 {
		t.Errorf("daemon held at most %d descriptors during the flood, want about its limit %d: the flood did not exhaust them", fds, limit)
	}
	if share := cpu.Seconds() / window.Seconds(); share > maxCPUShare {
		t.Errorf("daemon used %v CPU over the %v flood (%.0f%% of a core), want < %.0f%%", cpu, window.Round(time.Millisecond), share*100, maxCPUShare*100)
	}
	if resume > maxResume || resume < 0 {
		t.Errorf("service resumed %v after the flood (%d attempts, last error %v), want < %v", resume, attempts, lastErr, maxResume)
	}
	t.Logf("fd flood: limit %d, %d connected, daemon peaked at %d fds; server closed %d during the flood, %d open at its end",
		limit, c.Connected, fds, s.ClosedByServer, s.StillOpen)
	t.Logf("daemon CPU %v over %v (%.1f%% of a core); service resumed %v after the flood (%d attempts)",
		cpu, window.Round(time.Millisecond), 100*cpu.Seconds()/window.Seconds(), resume.Round(time.Millisecond), attempts)
}

// waitFDs polls pid's descriptor count until it reaches want or within
// passes, and returns the highest count seen.
func waitFDs(pid, want int, within time.Duration) int {
	deadline, top := time.Now().Add(within), 0
	for top < want && time.Now().Before(deadline) {
		top = max(top, rexectest.OpenFDs(pid))
		time.Sleep(20 * time.Millisecond)
	}
	return top
}

// session is a `rexec run` started in the background, already
// authenticated and running once startSession returns.
type session struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process was waited for
	out    bytes.Buffer  // valid after exited
	err    error         // valid after exited
}

// startSession starts `rexec run d.host() script`; script's first line of
// output must come within 15 s, proving the session runs. A test's
// clean-up kills it if it still runs.
func startSession(t *testing.T, d *daemon, script string) *session {
	t.Helper()
	s := &session{cmd: exec.Command(rexecBin, "run", d.host(), script), exited: make(chan struct{})}
	s.cmd.Env = append(os.Environ(), "REXEC_HOME="+d.Home)
	var errb bytes.Buffer
	s.cmd.Stderr = &errb
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := make(chan string, 1)
	go func() {
		defer close(s.exited)
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		first <- line
		rest, _ := r.ReadString(0)
		s.out.WriteString(line + rest)
		if s.err = s.cmd.Wait(); s.err != nil {
			s.err = fmt.Errorf("%w; stderr %q", s.err, errb.String())
		}
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
	})
	select {
	case line := <-first:
		if line == "" {
			<-s.exited
			t.Fatalf("session %q printed nothing: %v", script, s.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("session %q printed nothing within 15 s", script)
	}
	return s
}

// wait returns the session's output once it exits, bounded by within.
func (s *session) wait(within time.Duration) (string, error) {
	select {
	case <-s.exited:
		return s.out.String(), s.err
	case <-time.After(within):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return s.out.String(), fmt.Errorf("did not exit within %v (%v)", within, s.err)
	}
}

// resumeAfter connects and runs `true` in-process from 127.0.0.1 until
// one succeeds, at most 20 times within 10 s, and returns how long after
// since that was. In-process, so that what is measured is the daemon: a
// `rexec run` process would add its own start, which on a loaded machine
// alone took most of the 1 s bar.
func resumeAfter(t *testing.T, d *daemon, since time.Time) (time.Duration, int, error) {
	t.Helper()
	cfg, target := clientFrom(t, d, "127.0.0.1")
	deadline := time.Now().Add(10 * time.Second)
	var lastErr error
	for i := 1; i <= 20 && time.Now().Before(deadline); i++ {
		if _, err := runTrue(cfg, target); err != nil {
			lastErr = err
			time.Sleep(50 * time.Millisecond)
			continue
		}
		return time.Since(since), i, nil
	}
	return -1, 20, lastErr
}
