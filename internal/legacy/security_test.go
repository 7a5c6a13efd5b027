package legacy

// The listener's defences against real clients: protocol sniffing (raw
// HTTP, net/http, curl, crypto/tls, an SSH banner), the peer uid check
// (the lesson's client run as another user), and the audit of refusals.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/rexectest"
)

// auditedServer serves srv (a new one when nil) with an audit log in a
// temporary directory and returns the log's path. The log is closed after
// the server has stopped.
func auditedServer(t *testing.T, srv *Server) (*testServer, string) {
	t.Helper()
	if srv == nil {
		srv = &Server{}
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	log, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() }) // runs after startServer's cleanup
	srv.Audit = log
	return startServer(t, srv), path
}

// auditRecords verifies the audit log at path and returns its records.
func auditRecords(t *testing.T, path string) []audit.Record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := audit.Verify(strings.NewReader(string(b))); err != nil {
		t.Fatalf("audit.Verify after %d records: %v", n, err)
	}
	var recs []audit.Record
	for line := range strings.Lines(string(b)) {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return recs
}

// waitRecords waits (boundedly) until the audit log holds n records.
func waitRecords(t *testing.T, path string, n int) []audit.Record {
	t.Helper()
	var recs []audit.Record
	waitFor(testTimeout, func() bool { recs = auditRecords(t, path); return len(recs) >= n })
	if len(recs) < n {
		t.Fatalf("audit log holds %d records, want %d: %+v", len(recs), n, recs)
	}
	return recs
}

// deniedRecords are the records of refusals by rule.
func deniedRecords(recs []audit.Record, rule string) []audit.Record {
	var out []audit.Record
	for _, r := range recs {
		if r.Outcome == outcomeDenied && r.DeniedRule == rule {
			out = append(out, r)
		}
	}
	return out
}

// checkRefused checks what every refusal must leave: the sentinel never
// appeared, no command was started, the log says so, and the audit log
// verifies and holds a denied record naming rule whose reason has want.
func checkRefused(t *testing.T, srv *testServer, auditPath, sentinel, rule, want string) []audit.Record {
	t.Helper()
	if _, err := os.Stat(sentinel); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sentinel %s exists (%v): the refused bytes ran", sentinel, err)
	}
	if !strings.Contains(srv.logs.String(), "legacy connection refused") || !strings.Contains(srv.logs.String(), "rule="+rule) {
		t.Errorf("no refusal by %s in the log:\n%s", rule, srv.logs)
	}
	recs := waitRecords(t, auditPath, 1)
	denied := deniedRecords(recs, rule)
	if len(denied) == 0 || !strings.Contains(denied[0].Reason, want) {
		t.Fatalf("audit records %+v; want one denied by %s, reason with %q", recs, rule, want)
	}
	for _, r := range recs {
		if r.Event == audit.EventStart {
			t.Errorf("a command was started: %+v", r)
		}
		if r.Kind != kindLegacy || r.Remote == "" || r.Session == "" {
			t.Errorf("denied record lacks kind, remote or session: %+v", r)
		}
	}
	return denied
}

// touchPayload is the attack's request line with a sentinel path for
// /tmp/p; requireLive checks that a shell given it creates the file, so
// that the file's absence later means the server did not run it.
func touchPayload(t *testing.T, sentinel string) string {
	t.Helper()
	payload := "GET /;touch$IFS" + sentinel + "; HTTP/1.1"
	control := filepath.Join(t.TempDir(), "control")
	out, _ := exec.Command("sh", "-c", strings.ReplaceAll(payload, sentinel, control)).CombinedOutput()
	if _, err := os.Stat(control); err != nil {
		t.Fatalf("the payload run by sh did not create its file (%v; %s): the test would prove nothing", err, out)
	}
	return payload
}

func TestRefusesOtherProtocols(t *testing.T) {
	tests := []struct {
		name string
		send func(t *testing.T, addr, sentinel string)
		want string // in the audit reason
	}{
		{"the exact request line", func(t *testing.T, addr, sentinel string) {
			c := dialRaw(t, addr)
			c.Write([]byte(touchPayload(t, sentinel)))
			expectClosed(t, c)
		}, "HTTP request line"},
		{"a request with headers", func(t *testing.T, addr, sentinel string) {
			c := dialRaw(t, addr)
			c.Write([]byte(touchPayload(t, sentinel) + "\r\nHost: " + addr + "\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n"))
			expectClosed(t, c)
		}, "HTTP request line"},
		{"net/http", func(t *testing.T, addr, sentinel string) {
			touchPayload(t, sentinel)
			cl := &http.Client{Timeout: testTimeout}
			resp, err := cl.Get("http://" + addr + "/;touch$IFS" + sentinel + ";")
			if err == nil {
				resp.Body.Close()
				t.Errorf("net/http got a response: %s", resp.Status)
			}
		}, "HTTP request line"},
		{"curl", func(t *testing.T, addr, sentinel string) {
			touchPayload(t, sentinel)
			if _, err := exec.LookPath("curl"); err != nil {
				rexectest.SkipOrFail(t, "curl missing: %v", err)
			}
			out, err := exec.Command("curl", "-sS", "--max-time", "20", "http://"+addr+"/;touch$IFS"+sentinel+";").CombinedOutput()
			if err == nil {
				t.Errorf("curl got a response: %s", out)
			}
		}, "HTTP request line"},
		{"header lines alone", func(t *testing.T, addr, sentinel string) {
			c := dialRaw(t, addr)
			c.Write([]byte("Host: x\r\nX: y;touch " + sentinel + "\r\n"))
			expectClosed(t, c)
		}, "HTTP header line"},
		{"crypto/tls ClientHello", func(t *testing.T, addr, sentinel string) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, ServerName: "legacy.test"}}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				c.Close()
				t.Error("TLS handshake with the legacy port succeeded")
			}
		}, "TLS handshake record"},
		{"ssh banner", func(t *testing.T, addr, sentinel string) {
			c := dialRaw(t, addr)
			c.Write([]byte("SSH-2.0-OpenSSH_9.6;touch " + sentinel + "\r\n"))
			expectClosed(t, c)
		}, "SSH banner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, auditPath := auditedServer(t, nil)
			sentinel := filepath.Join(t.TempDir(), "p")
			tt.send(t, srv.addr, sentinel)
			denied := checkRefused(t, srv, auditPath, sentinel, ruleProtocol, tt.want)
			if p := denied[0].PeerUID; p == nil || *p != os.Getuid() {
				t.Errorf("denied record's peer uid = %v, want %d", p, os.Getuid())
			}
			if strings.HasPrefix(tt.name, "the exact") && denied[0].Command != "GET /;touch$IFS"+sentinel+"; HTTP/1.1" {
				t.Errorf("denied record's command = %q, want the request line", denied[0].Command)
			}
		})
	}
}

// TestLessonClientAsOtherUser: the lesson's client_once.py, run as
// nobody, gets nothing; the same client run as the daemon's user runs the
// same command (so the sentinel's absence means the refusal worked).
func TestLessonClientAsOtherUser(t *testing.T) {
	seed := rexectest.SeedDir(t)
	if os.Getuid() != 0 {
		t.Skip("running a client as another user needs root")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		rexectest.SkipOrFail(t, "setpriv missing: %v", err)
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		rexectest.SkipOrFail(t, "no user nobody: %v", err)
	}
	// A directory nobody can read, for the script and as its cwd.
	dir, err := os.MkdirTemp("", "legacy-nobody-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	script, err := os.ReadFile(filepath.Join(seed, "client_once.py"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "client_once.py"), script, 0o644); err != nil {
		t.Fatal(err)
	}
	asNobody := []string{setpriv, "--reuid=" + nobody.Uid, "--regid=" + nobody.Gid, "--clear-groups"}
	python := pythonFor(t, asNobody)
	srv, auditPath := auditedServer(t, nil)
	sentinel := filepath.Join(t.TempDir(), "p")
	run := func(other bool) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		args := []string{python, "client_once.py", "touch " + sentinel}
		if other {
			args = append(slices.Clone(asNobody), args...)
		}
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SEED_PORT="+srv.port, "PYTHONIOENCODING=utf-8")
		return cmd.CombinedOutput()
	}
	if out, err := run(true); err == nil {
		t.Errorf("client_once.py as nobody succeeded: %s", out)
	}
	denied := checkRefused(t, srv, auditPath, sentinel, ruleAllowUsers, "peer uid "+nobody.Uid)
	if p := denied[0].PeerUID; p == nil || *p != atoi(t, nobody.Uid) {
		t.Errorf("denied record's peer uid = %v, want nobody's %s", p, nobody.Uid)
	}
	if !strings.Contains(srv.logs.String(), "peer_uid="+nobody.Uid) {
		t.Errorf("the log does not name nobody's uid:\n%s", srv.logs)
	}
	if out, err := run(false); err != nil {
		t.Fatalf("client_once.py as the daemon's user: %v: %s", err, out)
	}
	if _, err := os.Stat(sentinel); err != nil {
		t.Errorf("the daemon's user's command did not run: %v", err)
	}
}

// pythonFor returns a python3 that runs under the prefix (setpriv as
// another user): python3 on PATH may live in root's home, which that
// user cannot enter.
func pythonFor(t *testing.T, prefix []string) string {
	t.Helper()
	var candidates []string
	if out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	candidates = append(candidates, "/usr/bin/python3", "/usr/local/bin/python3")
	for _, py := range candidates {
		args := append(slices.Clone(prefix), py, "-c", "pass")
		if exec.Command(args[0], args[1:]...).Run() == nil {
			return py
		}
	}
	rexectest.SkipOrFail(t, "no python3 that %v can run among %v", prefix, candidates)
	return ""
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if err := json.Unmarshal([]byte(s), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRefusesUnknownOrUnlistedOwner: a client whose socket's owner cannot
// be found (the tables are empty), or is not allowed, runs nothing.
func TestRefusesUnknownOrUnlistedOwner(t *testing.T) {
	if !peerUIDSupported {
		t.Skip("on this system every loopback client is refused; TestPolicyAdmit covers it")
	}
	empty := t.TempDir()
	os.Mkdir(filepath.Join(empty, "net"), 0o755)
	for _, f := range []string{"tcp", "tcp6"} {
		os.WriteFile(filepath.Join(empty, "net", f), []byte("  sl  local_address rem_address   st\n"), 0o644)
	}
	tests := []struct {
		name string
		srv  *Server
		want string
		uid  bool // the denied record names the peer uid
	}{
		{"owner not found", &Server{procRoot: empty}, "owner of the peer's socket is unknown", false},
		{"own uid not listed", &Server{AllowUIDs: []int{}}, "is not in legacy_allow_users", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, auditPath := auditedServer(t, tt.srv)
			sentinel := filepath.Join(t.TempDir(), "p")
			_, _, err := runOurs(t, &Client{Addr: srv.addr}, "touch "+sentinel)
			if !errors.Is(err, ErrServerClosed) && !isReset(err) {
				t.Errorf("Run = %v, want the connection closed", err)
			}
			denied := checkRefused(t, srv, auditPath, sentinel, ruleAllowUsers, tt.want)
			if (denied[0].PeerUID != nil) != tt.uid {
				t.Errorf("denied record's peer uid = %v, want set: %v", denied[0].PeerUID, tt.uid)
			}
		})
	}
}

// isReset reports whether err is the peer resetting the connection, as
// a server that closes with our command unread does.
func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// TestAuditsEveryCommand: each command served has a start and an end
// record with its peer, command, outcome, status, bytes and duration.
func TestAuditsEveryCommand(t *testing.T) {
	srv, auditPath := auditedServer(t, &Server{CommandTimeout: 2 * time.Second})
	conn, err := (&Client{Addr: srv.addr, HideHeader: true}).Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	remote := conn.nc.LocalAddr().String()
	tests := []struct {
		cmd      string
		outcome  string
		code     int
		signal   string
		out      string
		minMS    int64
		checkSHA bool
	}{
		{"echo hi", outcomeExited, 0, "", "hi\n", 0, true},
		{"sleep 0.1; echo err >&2; exit 3", outcomeExited, 3, "", "err\n", 100, false},
		{"kill -KILL $$", outcomeSignaled, 137, "KILL", "", 0, false},
		{"sleep 30", outcomeTimedOut, 124, "", "", 2000, false},
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for _, tt := range tests {
		var out strings.Builder
		if _, err := conn.Run(ctx, tt.cmd, &out); err != nil || !strings.HasPrefix(out.String(), tt.out) {
			t.Fatalf("Run(%q) = %q, %v", tt.cmd, out.String(), err)
		}
	}
	recs := waitRecords(t, auditPath, 2*len(tests))
	for i, tt := range tests {
		start, end := recs[2*i], recs[2*i+1]
		if start.Event != audit.EventStart || end.Event != audit.EventEnd || start.Session == "" || end.Session != start.Session {
			t.Fatalf("%q: records %+v, %+v; want a start and an end of one session", tt.cmd, start, end)
		}
		for _, r := range []audit.Record{start, end} {
			if r.Kind != kindLegacy || r.Remote != remote || r.Command != tt.cmd || r.PeerUID == nil || *r.PeerUID != os.Getuid() {
				t.Errorf("%q: record %+v; want kind legacy, remote %s, the command, peer uid %d", tt.cmd, r, remote, os.Getuid())
			}
		}
		if end.Outcome != tt.outcome || end.ExitCode == nil || *end.ExitCode != tt.code || end.Signal != tt.signal && tt.signal != "" {
			t.Errorf("%q: end %+v; want %s, exit %d, signal %q", tt.cmd, end, tt.outcome, tt.code, tt.signal)
		}
		if end.DurationMS < tt.minMS {
			t.Errorf("%q: duration %d ms, want at least %d", tt.cmd, end.DurationMS, tt.minMS)
		}
		if end.BytesOut < int64(len(tt.out)) {
			t.Errorf("%q: bytes out %d, want at least %d", tt.cmd, end.BytesOut, len(tt.out))
		}
		if tt.checkSHA && (end.BytesOut != int64(len(tt.out)) || end.StdoutSHA != sha256Hex(strings.NewReader(tt.out))) {
			t.Errorf("%q: bytes out %d, stdout sha %s; want %d and the output's", tt.cmd, end.BytesOut, end.StdoutSHA, len(tt.out))
		}
	}
}

// TestAuditFailsClosed: when the start record cannot be written, the
// command does not run and the client gets no reply.
func TestAuditFailsClosed(t *testing.T) {
	log, err := audit.Open(filepath.Join(t.TempDir(), "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	log.Close() // every Append now fails
	srv := startServer(t, &Server{Audit: log})
	sentinel := filepath.Join(t.TempDir(), "p")
	_, _, err = runOurs(t, &Client{Addr: srv.addr}, "touch "+sentinel)
	if !errors.Is(err, ErrServerClosed) {
		t.Errorf("Run with a failed audit log = %v, want ErrServerClosed", err)
	}
	if _, err := os.Stat(sentinel); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the command ran without its audit record (%v)", err)
	}
	if !strings.Contains(srv.logs.String(), "audit log write failed") {
		t.Errorf("no audit failure in the log:\n%s", srv.logs)
	}
}

// TestRefusalLogIsRateLimited: a burst of refused connections writes at
// most refusalLogsPerSecond log lines a second, but every one of them is
// audited.
func TestRefusalLogIsRateLimited(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	log, err := audit.OpenWith(path, audit.Options{Sync: audit.SyncNever}) // a burst, not a disk test
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	srv := startServer(t, &Server{Audit: log, AllowUIDs: []int{}}) // every client refused at once
	const n = 3 * refusalLogsPerSecond
	start := time.Now()
	for range n {
		c := dialRaw(t, srv.addr)
		io.Copy(io.Discard, c)
		c.Close()
	}
	windows := int(time.Since(start)/time.Second) + 1 // the limiter's windows the burst can span
	recs := waitRecords(t, path, n)
	if got := len(deniedRecords(recs, ruleAllowUsers)); got != n {
		t.Errorf("%d denied records, want %d", got, n)
	}
	if got := strings.Count(srv.logs.String(), "legacy connection refused"); got > windows*refusalLogsPerSecond || got < refusalLogsPerSecond {
		t.Errorf("%d refusal lines for %d refusals in %d windows; want %d..%d", got, n, windows, refusalLogsPerSecond, windows*refusalLogsPerSecond)
	}
}
