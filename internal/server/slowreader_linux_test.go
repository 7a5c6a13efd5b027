//go:build linux

package server

import (
	"crypto/sha256"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
)

// slowReaderInterval is the keepalive interval of the slow-reader tests:
// short, so that their pause is several dead-peer bounds long in seconds.
const slowReaderInterval = time.Second

// slowReaderLines is how many lines `seq` writes: about 21 MB, far more
// than the socket buffers of both ends, the pipe and the server's frame
// buffer hold, so the client's receive window closes while it pauses.
const slowReaderLines = 3_000_000

// TestSlowReaderKeepsSession: a client that is alive but reads nothing
// while output is pending (`rexec run h -- cat big | less`, the pager
// paused) keeps its session for much longer than the dead-peer bound, and
// when it reads again it gets every byte and the exit status, as with ssh.
// Its kernel answers the server's window probes, and that is what tells a
// paused reader from a vanished one. It runs with the window probes capped
// (TCP_RTO_MAX_MS) and as on a kernel without the cap, whose probes back
// off beyond the silence limit.
func TestSlowReaderKeepsSession(t *testing.T) {
	if testing.Short() {
		t.Skip("pauses for 10 s")
	}
	for _, tt := range []struct {
		name     string
		uncapped bool
	}{{"probes capped", false}, {"probes uncapped", true}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testSlowReader(t, tt.uncapped)
		})
	}
}

func testSlowReader(t *testing.T, uncapped bool) {
	ts := startServer(t, Config{KeepaliveInterval: slowReaderInterval, uncappedProbes: uncapped})
	c := ts.dial(t)
	if err := c.send(protocol.Exec{Command: fmt.Sprintf("seq 1 %d", slowReaderLines)}); err != nil {
		t.Fatal(err)
	}
	if err := c.send(protocol.StdinEOF{}); err != nil {
		t.Fatal(err)
	}
	pause := 3*deadPeerBound(slowReaderInterval) + time.Second
	closed, silence := watchServerSide(t, ts, pause)
	t.Logf("paused %v: the server saw the window closed: %v, the client's kernel silent for up to %v (limit %v)",
		pause, closed, silence, silenceLimit(slowReaderInterval))
	if !closed {
		t.Errorf("the client's receive window never closed during the pause: the test proves nothing")
	}
	if uncapped && silence <= silenceLimit(slowReaderInterval) {
		t.Errorf("uncapped window probes: silence of %v, want beyond the limit %v (else the test proves nothing)",
			silence, silenceLimit(slowReaderInterval))
	}
	r, err := c.collect()
	if err != nil {
		t.Fatalf("after a pause of %v, reading the output: %v (%d bytes so far)", pause, err, len(r.stdout))
	}
	want := seqOutput(slowReaderLines)
	if len(r.stdout) != len(want) || sha256.Sum256([]byte(r.stdout)) != sha256.Sum256([]byte(want)) {
		t.Errorf("stdout after the pause: %d bytes, want the %d bytes of seq 1 %d", len(r.stdout), len(want), slowReaderLines)
	}
	if r.exit == nil || r.exit.Code != 0 {
		t.Errorf("exit after the pause = %+v, want code 0", r.exit)
	}
}

// watchServerSide reads, for d, the TCP state of the server's one
// connection, and reports whether the peer's window was ever closed with
// data waiting, and the longest silence of the peer seen.
func watchServerSide(t *testing.T, ts *testServer, d time.Duration) (closed bool, silence time.Duration) {
	t.Helper()
	var rc syscall.RawConn
	if !rexectest.Eventually(testTimeout, func() bool { rc = serverRawConn(ts); return rc != nil }) {
		t.Fatal("the server holds no TCP connection")
	}
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		st, err := readTCPState(rc)
		if err != nil {
			t.Fatalf("the server's connection: %v", err)
		}
		closed = closed || st.windowClosed()
		silence = max(silence, st.silence)
	}
	return closed, silence
}

// serverRawConn is the socket of the server's only connection, or nil.
func serverRawConn(ts *testServer) syscall.RawConn {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for c := range ts.conns {
		if tc, ok := c.tcp().(*net.TCPConn); ok && len(ts.conns) == 1 {
			if rc, err := tc.SyscallConn(); err == nil {
				return rc
			}
		}
	}
	return nil
}

// seqOutput is what `seq 1 n` prints.
func seqOutput(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%d\n", i)
	}
	return b.String()
}
