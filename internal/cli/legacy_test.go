package cli_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// seedDir finds the lesson's programs in ../shared/peers/seed beside the
// repository; CI must have them, a developer checkout may not.
func seedDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "peers", "seed"))
	if err == nil {
		if _, err = os.Stat(filepath.Join(dir, "server.py")); err == nil {
			if _, err = exec.LookPath("python3"); err == nil {
				return dir
			}
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("the lesson's programs and python3 are needed in CI: %v", err)
	}
	t.Skipf("lesson programs not available: %v", err)
	return ""
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// TestLessonClientAgainstServe runs the lesson's client_once.py against
// `rexec serve --legacy-listen`.
func TestLessonClientAgainstServe(t *testing.T) {
	seed := seedDir(t)
	port := freePort(t)
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
	seed := seedDir(t)
	port := freePort(t)
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
