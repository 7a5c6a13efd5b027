//go:build linux

package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
	"github.com/rexec-dev/rexec/internal/transport"
)

// testTimeout bounds every single wait of these tests (a dial, a read, a
// session): generous, so that a loaded 2-core machine under -race never
// flakes, yet a wedged server fails the test instead of hanging it.
const testTimeout = 30 * time.Second

// killWait is how long a process tree may take to disappear after the
// server was told to end it (SIGTERM, KillGrace, SIGKILL, reaping).
const killWait = 3 * time.Second

var serverLog = flag.Bool("serverlog", false, "send the server's log to stderr")

// testServer is a Server serving a 127.0.0.1 listener, with a host
// identity and one authorized client identity.
type testServer struct {
	*Server
	addr     string
	host     *auth.Identity
	client   *auth.Identity // listed in authorized_keys
	keysPath string
	dir      string // scratch directory of the test

	served *rexectest.Served // Serve's end
}

// startServer starts a server with cfg (HostKey and AuthorizedKeysPath are
// filled in) and registers its Close, which must make Serve return.
func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	ts := &testServer{host: newIdentity(t, "host"), client: newIdentity(t, "client@test"),
		dir: t.TempDir()}
	ts.keysPath = filepath.Join(ts.dir, "authorized_keys")
	if _, err := auth.AppendAuthorizedKey(ts.keysPath, ts.client.Public, ts.client.Comment); err != nil {
		t.Fatalf("AppendAuthorizedKey = %v", err)
	}
	cfg.HostKey, cfg.AuthorizedKeysPath = ts.host, ts.keysPath
	if reflect.ValueOf(cfg.Penalties).IsZero() {
		// These tests fail authentication on purpose from 127.0.0.1;
		// penalties have their own tests (gate_test.go).
		cfg.Penalties.Disabled = true
	}
	if cfg.Logger == nil && *serverLog {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	ts.Server = s
	ts.served = rexectest.ServeLoopback(t, s.Serve, s.Close, ErrServerClosed)
	ts.addr = ts.served.Addr
	return ts
}

func newIdentity(t testing.TB, comment string) *auth.Identity {
	t.Helper()
	id, err := auth.GenerateIdentity(comment)
	if err != nil {
		t.Fatalf("GenerateIdentity = %v", err)
	}
	return id
}

// dialTCP opens a plain TCP connection to the server, closed at cleanup.
func (ts *testServer) dialTCP(t testing.TB) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", ts.addr, testTimeout)
	if err != nil {
		t.Fatalf("dial %s = %v", ts.addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// tlsClient runs the client side of the handshake over nc with identity
// id, pinning hostKey as a real client pins known_hosts.
func tlsClient(nc net.Conn, id *auth.Identity, hostKey ed25519.PublicKey) (*tls.Conn, error) {
	cfg, err := transport.ClientConfig(id, func(k ed25519.PublicKey) error {
		if !k.Equal(hostKey) {
			return errors.New("test: server presented an unexpected host key")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	tc := tls.Client(nc, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return tc, nil
}

// testClient is a raw protocol client: it sends exactly what a test tells
// it and reports every message it receives.
type testClient struct {
	nc     net.Conn // the transport under TLS (TCP or a pipe)
	tc     *tls.Conn
	pc     *protocol.Conn
	server protocol.Hello // the server's hello
}

// connect dials, handshakes as id and exchanges hello.
func (ts *testServer) connect(id *auth.Identity) (*testClient, error) {
	nc, err := net.DialTimeout("tcp", ts.addr, testTimeout)
	if err != nil {
		return nil, err
	}
	c, err := handshake(nc, id, ts.host.Public, protocol.Hello{Version: protocol.Version, Software: "rexec-test"})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// handshake runs TLS over nc, sends hello and expects the server's hello.
func handshake(nc net.Conn, id *auth.Identity, hostKey ed25519.PublicKey, hello protocol.Hello) (*testClient, error) {
	tc, err := tlsClient(nc, id, hostKey)
	if err != nil {
		return nil, err
	}
	c := &testClient{nc: nc, tc: tc, pc: protocol.NewConn(tc)}
	if err := c.send(hello); err != nil {
		return nil, err
	}
	m, err := c.recv()
	if err != nil {
		return nil, fmt.Errorf("reading hello: %w", err)
	}
	h, ok := m.(protocol.Hello)
	if !ok {
		return nil, fmt.Errorf("first message = %#v, want hello", m)
	}
	c.server = h
	return c, nil
}

// dial is connect as the authorized client, failing the test on error.
func (ts *testServer) dial(t testing.TB) *testClient {
	t.Helper()
	c, err := ts.connect(ts.client)
	if err != nil {
		t.Fatalf("connect = %v", err)
	}
	t.Cleanup(func() { c.close() })
	return c
}

func (c *testClient) close() { c.pc.Close() }

func (c *testClient) send(m protocol.Message) error {
	c.nc.SetWriteDeadline(time.Now().Add(testTimeout))
	return c.pc.Send(m)
}

// recv returns the next message; a Data body is copied, so it stays valid.
func (c *testClient) recv() (protocol.Message, error) {
	c.nc.SetReadDeadline(time.Now().Add(testTimeout))
	m, err := c.pc.Recv()
	if d, ok := m.(protocol.Data); ok {
		d.Body = bytes.Clone(d.Body)
		m = d
	}
	return m, err
}

// result is what one exec produced, as the client saw it.
type result struct {
	stdout, stderr string
	exit           *protocol.Exit  // nil: no exit message arrived
	err            *protocol.Error // an error frame ended the exchange
	acked          int64           // total of stdin_ack counts
}

func (r result) String() string {
	return fmt.Sprintf("stdout %q, stderr %q, exit %+v, error %+v", r.stdout, r.stderr, r.exit, r.err)
}

// collect reads until an exit or error message, or until the connection
// fails (the error is returned with what was collected so far).
func (c *testClient) collect() (result, error) {
	var r result
	var out, errOut strings.Builder
	for {
		m, err := c.recv()
		if err == nil {
			err = r.add(m, &out, &errOut)
		}
		r.stdout, r.stderr = out.String(), errOut.String()
		if err != nil || r.exit != nil || r.err != nil {
			return r, err
		}
	}
}

// add records one message of an exec exchange.
func (r *result) add(m protocol.Message, out, errOut *strings.Builder) error {
	switch m := m.(type) {
	case protocol.Data:
		switch m.Stream {
		case protocol.TypeStdout:
			out.Write(m.Body)
		case protocol.TypeStderr:
			errOut.Write(m.Body)
		default:
			return fmt.Errorf("unexpected %s data from the server", m.Stream)
		}
	case protocol.StdinAck:
		r.acked += m.Count
	case protocol.Exit:
		r.exit = &m
	case protocol.Error:
		r.err = &m
	case protocol.Ping: // keepalive; these tests run far shorter than its deadline
	default:
		return fmt.Errorf("unexpected %s message from the server", m.Type())
	}
	return nil
}

// run sends req, then stdin (if any) and stdin_eof, and collects the result.
func (c *testClient) run(req protocol.Exec, stdin string) (result, error) {
	if err := c.send(req); err != nil {
		return result{}, err
	}
	if stdin != "" {
		if err := c.send(protocol.Data{Stream: protocol.TypeStdin, Body: []byte(stdin)}); err != nil {
			return result{}, err
		}
	}
	if err := c.send(protocol.StdinEOF{}); err != nil {
		return result{}, err
	}
	return c.collect()
}

// mustRun is run failing the test on a transport error.
func (c *testClient) mustRun(t testing.TB, req protocol.Exec, stdin string) result {
	t.Helper()
	r, err := c.run(req, stdin)
	if err != nil {
		t.Fatalf("run(%+v) = %v (so far: %v)", req, err, r)
	}
	return r
}

// readLines reads stdout until it holds n complete lines and returns them;
// stdin_ack is skipped, anything else fails.
func (c *testClient) readLines(n int) ([]string, error) {
	var out strings.Builder
	for strings.Count(out.String(), "\n") < n {
		m, err := c.recv()
		if err != nil {
			return nil, fmt.Errorf("after stdout %q: %w", out.String(), err)
		}
		switch m := m.(type) {
		case protocol.Data:
			if m.Stream == protocol.TypeStdout {
				out.Write(m.Body)
			}
		case protocol.StdinAck:
		default:
			return nil, fmt.Errorf("after stdout %q: got %#v", out.String(), m)
		}
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"), nil
}

// readPIDs reads n lines of stdout, each a process id.
func (c *testClient) readPIDs(t testing.TB, n int) []int {
	t.Helper()
	lines, err := c.readLines(n)
	if err != nil {
		t.Fatalf("reading %d pids: %v", n, err)
	}
	pids := make([]int, 0, n)
	for _, l := range lines {
		pid, err := strconv.Atoi(strings.TrimSpace(l))
		if err != nil || pid <= 1 {
			t.Fatalf("stdout line %q is not a pid", l)
		}
		pids = append(pids, pid)
	}
	return pids
}

// readUntilClosed reads messages until the server closes conn and returns
// the codes of the error frames that arrived; it fails if conn is still
// open after d.
func readUntilClosed(conn net.Conn, d time.Duration) (codes []string, err error) {
	conn.SetReadDeadline(time.Now().Add(d))
	pc := protocol.NewConn(conn)
	for {
		m, err := pc.Recv()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return codes, fmt.Errorf("connection still open after %v", d)
			}
			return codes, nil
		}
		if e, ok := m.(protocol.Error); ok {
			codes = append(codes, e.Code)
		}
	}
}

// rawCloseWait reads raw bytes until the server closes nc, or fails after d.
func rawCloseWait(nc net.Conn, d time.Duration) error {
	nc.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("connection still open after %v", d)
	}
	return nil
}

// rawFrame builds a frame with an arbitrary length prefix, exactly as a
// hostile peer would send it.
func rawFrame(hdrLen uint32, hdr, body string) []byte {
	b := binary.BigEndian.AppendUint32(nil, hdrLen)
	return append(append(b, hdr...), body...)
}

// frameOf builds a well-formed frame around hdr and body.
func frameOf(hdr, body string) []byte { return rawFrame(uint32(len(hdr)), hdr, body) }

// checkOK runs `echo ok` on a new connection: the server still serves.
func (ts *testServer) checkOK(t testing.TB) {
	t.Helper()
	c, err := ts.connect(ts.client)
	if err != nil {
		t.Fatalf("server no longer serves: connect = %v", err)
	}
	defer c.close()
	r, err := c.run(protocol.Exec{Command: "echo ok"}, "")
	if err != nil || r.exit == nil || r.exit.Code != 0 || r.stdout != "ok\n" {
		t.Fatalf("server no longer serves: run(echo ok) = %v, %v; want stdout \"ok\\n\", exit 0", r, err)
	}
}

// waitAlive fails unless every pid runs the command name want within d.
func waitAlive(t testing.TB, want string, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		if !rexectest.Eventually(testTimeout, func() bool { return rexectest.Comm(pid) == want && rexectest.Alive(pid) }) {
			t.Fatalf("process %d is %q, want a live %q", pid, rexectest.Comm(pid), want)
		}
	}
}
