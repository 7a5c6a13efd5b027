//go:build linux

package server

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
)

// The dead-peer test (docs/CLI.md §8: after auth, a dead peer is dropped within
// 45 s) makes a client host vanish for real: no FIN, no RST, nothing. The
// test binary re-executes itself in a private network namespace (as
// internal/synwatch's SYN-flood test does), runs a server and a client on
// that namespace's loopback, brings the connection into one state
// (deadPeerCases: a session idle, a session whose output the client stopped
// reading, one whose output is in flight, no session), then installs an
// nftables rule that drops every packet of the client's connection. The
// namespace, its rules and its sockets vanish with the child process
// whatever happens.
const (
	deadPeerHelperEnv = "REXEC_DEADPEER_HELPER" // set in the child

	// deadPeerInterval is the keepalive interval of the test: short, so
	// the test takes seconds; TestDeadPeerBound shows that the default
	// interval gives the 45 s of docs/CLI.md §8 by the same arithmetic.
	deadPeerInterval = 2 * time.Second
	// deadPeerSlack is what scheduling, killing the tree and writing the
	// audit record may add to deadPeerBound on a loaded machine. It is
	// under one interval, so a server that took one interval more (three
	// intervals counted from its next ping or probe) fails.
	deadPeerSlack = 1500 * time.Millisecond
)

var deadPeerDefault = flag.Bool("deadpeer.default", false,
	"TestDeadPeerNetns: use the default keepalive interval (the test then takes about 50 s)")

// TestDeadPeerBound: the watchdog's arithmetic gives the bound of docs/CLI.md §8 with
// the default interval, leaves a live peer room for a lost probe, and the
// zero Config gets that default.
func TestDeadPeerBound(t *testing.T) {
	tests := []struct {
		interval, limit, bound, rto time.Duration
		count                       int
	}{
		{DefaultKeepaliveInterval, 43 * time.Second, 45 * time.Second, 5 * time.Second, 30},
		{deadPeerInterval, 5250 * time.Millisecond, 6 * time.Second, time.Second, 4},
		{time.Second, 2625 * time.Millisecond, 3 * time.Second, time.Second, 2},
		{100 * time.Millisecond, minSilenceLimit, 2537500 * time.Microsecond, time.Second, 1},
		{10 * time.Minute, 1798 * time.Second, 30 * time.Minute, 120 * time.Second, maxKeepaliveCount},
	}
	for _, tt := range tests {
		if got := silenceLimit(tt.interval); got != tt.limit {
			t.Errorf("silenceLimit(%v) = %v, want %v", tt.interval, got, tt.limit)
		}
		if got := deadPeerBound(tt.interval); got != tt.bound {
			t.Errorf("deadPeerBound(%v) = %v, want %v", tt.interval, got, tt.bound)
		}
		if got := rtoMax(tt.interval); got != tt.rto {
			t.Errorf("rtoMax(%v) = %v, want %v", tt.interval, got, tt.rto)
		}
		ka := tcpKeepaliveConfig(tt.interval)
		if ka.Count != tt.count || ka.Interval != probeInterval || ka.Idle != max(tt.interval, time.Second) {
			t.Errorf("tcpKeepaliveConfig(%v) = %+v, want idle %v, interval %v, count %d",
				tt.interval, ka, max(tt.interval, time.Second), probeInterval, tt.count)
		}
		// A live peer is asked at least every max(idle, rtoMax): it may
		// lose one answer and still be heard within the limit.
		if gap := max(ka.Idle, rtoMax(tt.interval)); 2*gap >= silenceLimit(tt.interval) {
			t.Errorf("interval %v: probes %v apart leave no room for a lost one within %v", tt.interval, gap, silenceLimit(tt.interval))
		}
		if tt.interval >= time.Second && deadPeerBound(tt.interval) > keepaliveMisses*tt.interval {
			t.Errorf("deadPeerBound(%v) = %v, more than %d intervals", tt.interval, deadPeerBound(tt.interval), keepaliveMisses)
		}
	}
	if b := deadPeerBound(DefaultKeepaliveInterval); b > 45*time.Second {
		t.Errorf("with the default interval a dead peer goes after %v, docs/CLI.md §8 allows 45s", b)
	}
	s, err := New(Config{HostKey: newIdentity(t, "host")})
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.KeepaliveInterval != DefaultKeepaliveInterval {
		t.Errorf("zero Config's KeepaliveInterval = %v, want %v", s.cfg.KeepaliveInterval, DefaultKeepaliveInterval)
	}
}

// TestStateOf: the peer's silence is the later of its last
// acknowledgement and its last data, as the kernel's keepalive counts it.
func TestStateOf(t *testing.T) {
	tests := []struct {
		ti   unix.TCPInfo
		want tcpState
	}{
		{unix.TCPInfo{Last_ack_recv: 300, Last_data_recv: 9000}, tcpState{silence: 300 * time.Millisecond}},
		{unix.TCPInfo{Last_ack_recv: 44000, Last_data_recv: 1200, Probes: 3}, tcpState{silence: 1200 * time.Millisecond, probes: 3}},
		{unix.TCPInfo{Last_ack_recv: 5, Last_data_recv: 5, Unacked: 7, Notsent_bytes: 65536}, tcpState{silence: 5 * time.Millisecond, unacked: 7, notsent: 65536}},
	}
	for _, tt := range tests {
		if got := stateOf(&tt.ti); got != tt.want {
			t.Errorf("stateOf(last_ack_recv %d, last_data_recv %d) = %+v, want %+v", tt.ti.Last_ack_recv, tt.ti.Last_data_recv, got, tt.want)
		}
	}
}

// TestDeadPeerNetns runs TestDeadPeerHelper in a private network
// namespace: as root with CLONE_NEWNET, otherwise in a new user namespace
// too. Without ip or nft, or where namespaces are not allowed, it skips
// (and fails under CI, which installs both and runs as root).
func TestDeadPeerNetns(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 12 s")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			rexectest.SkipOrFail(t, "%s not found (apt-get install iproute2 nftables)", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestDeadPeerHelper$", "-test.v", "-test.count=1",
		fmt.Sprintf("-deadpeer.default=%v", *deadPeerDefault))
	cmd.Env = append(os.Environ(), deadPeerHelperEnv+"=1")
	cmd.SysProcAttr = netnsAttr()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		rexectest.SkipOrFail(t, "cannot create a network namespace: %v", err)
	}
	// TestMain's subreaper reaps any zombie child that is not a session's,
	// and may take the helper's exit status first (ECHILD): its output,
	// complete once Wait returns, then tells how it went.
	err := cmd.Wait()
	if errors.Is(err, syscall.ECHILD) && !strings.Contains(out.String(), "FAIL") {
		err = nil
	}
	t.Logf("helper output:\n%s", out.String())
	if err != nil || !strings.Contains(out.String(), "--- PASS: TestDeadPeerHelper") {
		t.Fatalf("helper in a private netns: %v", err)
	}
}

// netnsAttr makes the child's private network namespace: root may create
// one directly; anyone else needs a user namespace that maps them to root.
func netnsAttr() *syscall.SysProcAttr {
	if os.Geteuid() == 0 {
		return &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	}
	return &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
	}
}

// deadPeerCase is one way a client vanishes: the command it runs ("" for
// none: it vanishes between sessions) and what it does just before, its
// last sign of life. before returns a function that releases what it
// started, called at the end of the case.
type deadPeerCase struct {
	name    string
	command string // prints its pid, then execs comm
	comm    string
	before  func(t *testing.T, ts *testServer, c *testClient, interval time.Duration) (release func())
}

var deadPeerCases = []deadPeerCase{
	{"idle session", "echo $$; exec sleep 1000", "sleep", func(t *testing.T, _ *testServer, c *testClient, _ time.Duration) func() {
		time.Sleep(deadPeerInterval + deadPeerInterval/2) // a ping, if the server sent one, is among what pingPong reads
		pingPong(t, c, true)
		return func() {}
	}},
	// The client stops reading while output flows, then vanishes: only
	// its kernel's answers to window probes said it was alive.
	{"window closed", "echo $$; sleep 0.5; exec yes", "yes", func(t *testing.T, ts *testServer, _ *testClient, interval time.Duration) func() {
		rc := serverConnOf(t, ts)
		if !rexectest.Eventually(testTimeout, func() bool { st, err := readTCPState(rc); return err == nil && st.windowClosed() }) {
			t.Fatal("the client's receive window did not close")
		}
		time.Sleep(2 * interval) // the window probes back off to their cap
		if st, err := readTCPState(rc); err != nil || !st.windowClosed() {
			t.Fatalf("the client's window reopened (%+v, %v)", st, err)
		}
		return func() {}
	}},
	// The client reads all it gets and vanishes mid-stream: data in flight.
	{"data in flight", "echo $$; sleep 0.5; exec yes", "yes", func(t *testing.T, _ *testServer, c *testClient, _ time.Duration) func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 1 << 20 { // bounded; ends when release closes the connection
				if _, err := c.recv(); err != nil {
					return
				}
			}
		}()
		time.Sleep(time.Second)
		return func() { c.close(); <-done }
	}},
	{"between sessions", "", "", func(t *testing.T, _ *testServer, c *testClient, _ time.Duration) func() {
		time.Sleep(deadPeerInterval + deadPeerInterval/2)
		pingPong(t, c, false)
		return func() {}
	}},
}

// TestDeadPeerHelper is the child of TestDeadPeerNetns; it skips when run
// directly. Each case runs its own server and client, in parallel.
func TestDeadPeerHelper(t *testing.T) {
	if os.Getenv(deadPeerHelperEnv) == "" {
		t.Skip("runs only as the child of TestDeadPeerNetns")
	}
	runTool(t, "", "ip", "link", "set", "lo", "up")
	interval := deadPeerInterval
	if *deadPeerDefault {
		interval = DefaultKeepaliveInterval
	}
	for _, tc := range deadPeerCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testDeadPeer(t, tc, interval)
		})
	}
}

// testDeadPeer runs one case: the client vanishes (nftables drops its
// packets), and the server must end its session and drop its connection
// within deadPeerBound of that moment, plus deadPeerSlack.
func testDeadPeer(t *testing.T, tc deadPeerCase, interval time.Duration) {
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	log, err := audit.Open(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	ts := startServer(t, Config{KeepaliveInterval: interval, Audit: log})
	c := ts.dial(t)
	pid := 0
	if tc.command != "" {
		if err := c.send(protocol.Exec{Command: tc.command}); err != nil {
			t.Fatal(err)
		}
		if err := c.send(protocol.StdinEOF{}); err != nil {
			t.Fatal(err)
		}
		pid = c.readPIDs(t, 1)[0]
		waitAlive(t, tc.comm, pid)
	}
	release := tc.before(t, ts, c, interval)
	defer release()

	vanished := blackhole(t, c.nc.LocalAddr().(*net.TCPAddr).Port)
	bound := deadPeerBound(interval) + deadPeerSlack
	if !rexectest.Eventually(bound+testTimeout, func() bool { return ts.connCount() == 0 }) { // generous here; the bound is checked below
		t.Fatalf("the server still holds %d connections", ts.connCount())
	}
	dropped := time.Since(vanished)
	t.Logf("client vanished; connection dropped after %v (bound %v + slack %v)",
		dropped.Round(time.Millisecond), deadPeerBound(interval), deadPeerSlack)
	if dropped > bound {
		t.Errorf("dead peer's connection dropped after %v, want within %v", dropped, bound)
	}
	if pid == 0 {
		return
	}
	rexectest.CheckGone(t, testTimeout, pid)
	end := waitEndRecord(t, auditPath, testTimeout)
	ended := end.Time.Sub(vanished)
	t.Logf("session's end record after %v", ended.Round(time.Millisecond))
	if ended > bound {
		t.Errorf("dead peer's session ended after %v, want within %v", ended, bound)
	}
	if end.Outcome != "connection_lost" || end.Reason != errClientGone.Error() {
		t.Errorf("end record = outcome %q reason %q, want connection_lost, %q", end.Outcome, end.Reason, errClientGone)
	}
}

// serverConnOf is the socket of the server's only connection.
func serverConnOf(t *testing.T, ts *testServer) syscall.RawConn {
	t.Helper()
	var rc syscall.RawConn
	if !rexectest.Eventually(testTimeout, func() bool { rc = serverRawConn(ts); return rc != nil }) {
		t.Fatal("the server holds no TCP connection")
	}
	return rc
}

// pingPong pings the server and waits for its pong: the last sign of
// life the client gives before it vanishes. inSession: a ping from the
// server is an error (the server pings only idle connections).
func pingPong(t *testing.T, c *testClient, inSession bool) {
	t.Helper()
	if err := c.send(protocol.Ping{}); err != nil {
		t.Fatal(err)
	}
	for range 100 { // bounded: the test client's reads time out too
		m, err := c.recv()
		if err != nil {
			t.Fatalf("waiting for a pong: %v", err)
		}
		switch m.(type) {
		case protocol.Pong:
			return
		case protocol.Ping:
			if inSession {
				t.Errorf("the server pinged during a session")
			}
		}
	}
	t.Fatal("no pong among 100 messages")
}

// blackhole drops, in this namespace, every packet to or from the local
// TCP port, both ways: the peer using it is gone without a word. It
// returns when the rule is in place.
func blackhole(t *testing.T, port int) time.Time {
	t.Helper()
	rules := fmt.Sprintf(`table inet rexec_deadpeer_%d {
	chain out {
		type filter hook output priority 0; policy accept;
		tcp sport %d drop
		tcp dport %d drop
	}
}
`, port, port, port)
	runTool(t, rules, "nft", "-f", "-")
	return time.Now()
}

// runTool runs a command with stdin, failing the test on error.
func runTool(t *testing.T, stdin, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v %s", name, strings.Join(args, " "), err, out)
	}
}

// waitEndRecord waits for the audit log to hold an end record and returns
// the first.
func waitEndRecord(t *testing.T, path string, d time.Duration) audit.Record {
	t.Helper()
	var end *audit.Record
	rexectest.Eventually(d, func() bool {
		for _, r := range readAudit(t, path) {
			if r.Event == audit.EventEnd {
				end = &r
				return true
			}
		}
		return false
	})
	if end == nil {
		t.Fatalf("no end record in the audit log after %v", d)
	}
	return *end
}

// connCount is how many connections the server holds.
func (ts *testServer) connCount() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.conns)
}
