package cli_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/rexectest"
)

// TestLessonClientAgainstServe runs the lesson's client_once.py against
// `rexec serve --legacy-listen`.
func TestLessonClientAgainstServe(t *testing.T) {
	seed := rexectest.SeedDir(t)
	port := rexectest.FreePort(t)
	startDaemon(t, t.TempDir(), "--legacy-listen", "127.0.0.1:"+port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", filepath.Join(seed, "client_once.py"), "echo hi")
	cmd.Env = append(os.Environ(), "SEED_PORT="+port)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client_once.py: %v: %s", err, out)
	}
	sum := md5.Sum([]byte("hi\n"))
	want := "'md5': '" + hex.EncodeToString(sum[:]) + "'"
	if !strings.Contains(string(out), want) || !regexp.MustCompile(`(?m)^hi$`).Match(out) {
		t.Errorf("client_once.py printed %q; want the header with %s and hi", out, want)
	}
}

// TestLegacyClientAgainstLessonServer runs `rexec legacy -- echo hi`
// against the lesson's server.py.
func TestLegacyClientAgainstLessonServer(t *testing.T) {
	seed := rexectest.SeedDir(t)
	port := rexectest.FreePort(t)
	srv := exec.Command("python3", filepath.Join(seed, "server.py"))
	srv.Env = append(os.Environ(), "SEED_PORT="+port)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close() // server.py serves one client at a time; this one leaves at once
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server.py did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := rexec(t, t.TempDir(), nil, "legacy", "127.0.0.1:"+port, "--", "echo hi")
	if r.code != 0 || !strings.HasSuffix(r.stdout, "\nhi\n") {
		t.Errorf("rexec legacy = %d, %q, %q; want 0 and hi", r.code, r.stdout, r.stderr)
	}
}

func TestLegacyListenRefusesRemote(t *testing.T) {
	r := rexec(t, t.TempDir(), nil, "serve", "--listen", "127.0.0.1:0", "--legacy-listen", "0.0.0.0:0")
	if r.code == 0 || !strings.Contains(r.stderr, "--legacy-allow-remote") {
		t.Errorf("serve --legacy-listen 0.0.0.0 = %d, %q; want a refusal naming --legacy-allow-remote", r.code, r.stderr)
	}
}

// TestLegacyListenNeedsAllowFrom: a non-loopback --legacy-listen with
// --legacy-allow-remote still needs a source list, said in one line.
func TestLegacyListenNeedsAllowFrom(t *testing.T) {
	home := t.TempDir()
	r := rexec(t, home, nil, "serve", "--listen", "127.0.0.1:0", "--legacy-listen", "0.0.0.0:0", "--legacy-allow-remote")
	if r.code == 0 || !strings.Contains(r.stderr, "--legacy-allow-from") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("serve --legacy-listen 0.0.0.0 --legacy-allow-remote = %d, %q; want one line naming --legacy-allow-from", r.code, r.stderr)
	}
	r = rexec(t, home, nil, "serve", "--listen", "127.0.0.1:0", "--legacy-listen", "0.0.0.0:0", "--legacy-allow-remote",
		"--legacy-allow-from", "192.0.2.0/24", "--legacy-allow-from", "2001:db8::/32", "--check-config")
	if r.code != 0 || !strings.Contains(r.stdout, "configuration ok") {
		t.Errorf("with --legacy-allow-from: %d, %q %q; want configuration ok", r.code, r.stdout, r.stderr)
	}
	conf := filepath.Join(home, "legacy.toml")
	os.WriteFile(conf, []byte("legacy_listen = \"0.0.0.0:0\"\nlegacy_allow_remote = true\nlegacy_allow_from = [\"192.0.2.0/24\"]\n"), 0o600)
	if r := rexec(t, home, nil, "serve", "--config", conf, "--check-config"); r.code != 0 {
		t.Errorf("legacy_allow_from in the config file: %d, %q", r.code, r.stderr)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad CIDR", []string{"--legacy-allow-from", "192.0.2.0/40"}, "legacy_allow_from"},
		{"unknown user", []string{"--legacy-allow-user", "no-such-user-rexec"}, "no-such-user-rexec"},
		{"bad encoding", []string{"--legacy-encoding", "latin1"}, "legacy_encoding"},
	}
	for _, tt := range tests {
		args := append([]string{"serve", "--listen", "127.0.0.1:0", "--legacy-listen", "127.0.0.1:0", "--check-config"}, tt.args...)
		if r := rexec(t, home, nil, args...); r.code == 0 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: %d, %q; want a refusal naming %s", tt.name, r.code, r.stderr, tt.want)
		}
	}
}

// TestLegacyServeExitAuditSniff: through `rexec serve`, `rexec legacy`
// exits with the command's status, a web page's request line runs nothing,
// and both are in the audit log, which verifies.
func TestLegacyServeExitAuditSniff(t *testing.T) {
	home := t.TempDir()
	port := rexectest.FreePort(t)
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	d := startDaemon(t, home, "--legacy-listen", "127.0.0.1:"+port, "--audit-log", auditPath)
	addr := "127.0.0.1:" + port
	tests := []struct {
		cmd  string
		code int
	}{
		{"echo hi", 0},
		{"exit 3", 3},
		{"kill -KILL $$", 137},
	}
	for _, tt := range tests {
		if r := rexec(t, t.TempDir(), nil, "legacy", addr, "--", tt.cmd); r.code != tt.code {
			t.Errorf("rexec legacy -- %q = %d (%q %q), want %d", tt.cmd, r.code, r.stdout, r.stderr, tt.code)
		}
	}
	sentinel := filepath.Join(t.TempDir(), "p")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	c.Write([]byte("GET /;touch$IFS" + sentinel + "; HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"))
	if n, _ := io.Copy(io.Discard, c); n != 0 {
		t.Errorf("the HTTP request got %d bytes back, want none", n)
	}
	c.Close()
	if _, err := os.Stat(sentinel); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the request line ran: %s exists (%v)", sentinel, err)
	}
	if !d.WaitLog("legacy connection refused", 10*time.Second) { // logged after the close
		t.Errorf("no refusal in the daemon's log:\n%s", d.Logs())
	}
	var recs []map[string]any
	for range 100 { // the end records follow the replies: bounded wait
		recs = readAuditFile(t, auditPath)
		if len(recs) >= 2*len(tests)+1 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var ends, denied int
	for _, r := range recs {
		if r["kind"] != "legacy" {
			continue
		}
		switch {
		case r["event"] == "end" && r["outcome"] == "denied" && r["denied_rule"] == "protocol":
			denied++
		case r["event"] == "end" && r["command"] == "exit 3" && r["exit_code"] == float64(3):
			ends++
		}
	}
	if ends != 1 || denied != 1 {
		t.Errorf("audit records %v; want the end of exit 3 and one protocol refusal", recs)
	}
	if r := rexec(t, home, nil, "audit", "verify", auditPath); r.code != 0 {
		t.Errorf("rexec audit verify = %d %q %q", r.code, r.stdout, r.stderr)
	}
}

// TestLessonClientGBKAgainstServe: with --legacy-encoding gbk the
// lesson's client, which decodes GBK, prints Chinese correctly.
func TestLessonClientGBKAgainstServe(t *testing.T) {
	seed := rexectest.SeedDir(t)
	port := rexectest.FreePort(t)
	startDaemon(t, t.TempDir(), "--legacy-listen", "127.0.0.1:"+port, "--legacy-encoding", "gbk")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", filepath.Join(seed, "client_once.py"), "echo 中文")
	cmd.Env = append(os.Environ(), "SEED_PORT="+port, "PYTHONIOENCODING=utf-8")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client_once.py: %v: %s", err, out)
	}
	if !regexp.MustCompile(`(?m)^中文$`).Match(out) || !strings.Contains(string(out), "'exit_code': 0") {
		t.Errorf("client_once.py printed %q; want 中文 and exit_code 0", out)
	}
}

// readAuditFile parses the audit log's lines as JSON objects.
func readAuditFile(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	for line := range strings.Lines(string(b)) {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}
