package cli_test

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCheckConfig(t *testing.T) {
	home := t.TempDir()
	good := filepath.Join(home, "good.toml")
	os.WriteFile(good, []byte("listen = [\"127.0.0.1:7999\"]\nmax_sessions = 10\n[penalty]\nmin = \"20s\"\n"), 0o600)
	if r := rexec(t, home, nil, "serve", "--config", good, "--check-config"); r.code != 0 || !strings.Contains(r.stdout, "ok") {
		t.Errorf("--check-config on a good file = %d %q %q", r.code, r.stdout, r.stderr)
	}
	bad := filepath.Join(home, "bad.toml")
	os.WriteFile(bad, []byte("listen = [\"127.0.0.1:7999\"]\nmax_sesions = 10\n"), 0o600)
	r := rexec(t, home, nil, "serve", "--config", bad, "--check-config")
	if r.code == 0 || !strings.Contains(r.stderr, "max_sesions") {
		t.Errorf("--check-config with an unknown key = %d %q; want failure naming max_sesions", r.code, r.stderr)
	}
	r = rexec(t, home, nil, "serve", "--config", filepath.Join(home, "missing.toml"), "--check-config")
	if r.code == 0 {
		t.Errorf("--check-config with a missing explicit file = %d; want failure", r.code)
	}
	if r := rexec(t, home, nil, "serve", "--max-startups", "9:9", "--check-config"); r.code == 0 {
		t.Errorf("bad --max-startups accepted")
	}
}

var metricsRE = regexp.MustCompile(`metrics on (http://\S+/metrics)`)

// metricsText fetches d's /metrics, at the address its log announced.
func metricsText(t *testing.T, d *daemon) string {
	t.Helper()
	m := metricsRE.FindStringSubmatch(d.Logs())
	if m == nil {
		t.Fatalf("no metrics address in the logs:\n%s", d.Logs())
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// TestMetricsAuditReload: /metrics serves the families, the audit log
// verifies and breaks on a changed byte, and SIGHUP picks up a newly
// authorized key while a session keeps running.
func TestMetricsAuditReload(t *testing.T) {
	home := t.TempDir()
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	d := startDaemon(t, home, "--metrics", "127.0.0.1:0", "--audit-log", auditPath)

	long := exec.Command(rexecBin, "run", d.host(), "echo started; sleep 2; echo finished")
	long.Env = append(os.Environ(), "REXEC_HOME="+home)
	var longOut strings.Builder
	long.Stdout = &longOut
	if err := long.Start(); err != nil {
		t.Fatal(err)
	}

	other := t.TempDir()
	rexec(t, other, nil, "keygen")
	if r := rexec(t, other, nil, "run", "--accept-new", d.host(), "true"); r.code != 255 {
		t.Fatalf("unauthorized key = %d, want 255", r.code)
	}
	if r := rexec(t, home, nil, "authorize", filepath.Join(other, "id_ed25519.pub")); r.code != 0 {
		t.Fatal(r.stderr)
	}
	d.Cmd.Process.Signal(syscall.SIGHUP)
	if r := rexec(t, other, nil, "run", "--accept-new", d.host(), "echo hi"); r.code != 0 || r.stdout != "hi\n" {
		t.Fatalf("newly authorized key after SIGHUP = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if err := long.Wait(); err != nil || longOut.String() != "started\nfinished\n" {
		t.Fatalf("session running across SIGHUP: %v, %q", err, longOut.String())
	}

	body := metricsText(t, d)
	for _, fam := range []string{"rexec_connections", "rexec_sessions_total", "rexec_bytes_total",
		"rexec_auth_failures_total", "rexec_syn_recv"} {
		if !strings.Contains(string(body), fam) {
			t.Errorf("/metrics lacks %s", fam)
		}
	}

	if r := rexec(t, home, nil, "audit", "verify", auditPath); r.code != 0 {
		t.Fatalf("audit verify on the real log = %d %q %q", r.code, r.stdout, r.stderr)
	}
	b, _ := os.ReadFile(auditPath)
	b[strings.Index(string(b), "\n")+10] ^= 0x01 // a byte inside record 2
	os.WriteFile(auditPath, b, 0o600)
	r := rexec(t, home, nil, "audit", "verify", auditPath)
	if r.code == 0 || !strings.Contains(r.stderr, "record 2") {
		t.Errorf("audit verify after a changed byte = %d %q; want failure naming record 2", r.code, r.stderr)
	}
}

// TestSIGHUPAppliesLimits: a limit raised in the config file takes effect
// on SIGHUP while a session runs; a setting that needs a restart is named.
func TestSIGHUPAppliesLimits(t *testing.T) {
	home := t.TempDir()
	conf := filepath.Join(home, "config.toml")
	os.WriteFile(conf, []byte("max_sessions = 1\n"), 0o600)
	d := startDaemon(t, home, "--config", conf)
	long := exec.Command(rexecBin, "run", d.host(), "echo started; sleep 3")
	long.Env = append(os.Environ(), "REXEC_HOME="+home)
	out, _ := long.StdoutPipe()
	if err := long.Start(); err != nil {
		t.Fatal(err)
	}
	defer long.Wait()
	started := make([]byte, len("started"))
	if _, err := io.ReadFull(out, started); err != nil {
		t.Fatal(err)
	}
	if r := rexec(t, home, nil, "run", d.host(), "true"); r.code != 255 || !strings.Contains(r.stderr, "maximum number of sessions") {
		t.Fatalf("second session under max_sessions = 1: %d %q", r.code, r.stderr)
	}
	os.WriteFile(conf, []byte("max_sessions = 5\nidle_timeout = \"1h\"\n"), 0o600)
	d.Cmd.Process.Signal(syscall.SIGHUP)
	if !d.WaitLog("applied changed setting", 10*time.Second) { // the reload is asynchronous
		t.Fatalf("no 'applied changed setting' in the log after SIGHUP:\n%s", d.Logs())
	}
	if r := rexec(t, home, nil, "run", d.host(), "echo ok"); r.code != 0 {
		t.Fatalf("after raising max_sessions and SIGHUP: %d %q", r.code, r.stderr)
	}
	if !strings.Contains(d.Logs(), `"setting":"idle_timeout"`) {
		t.Errorf("changed idle_timeout not named as needing a restart; logs:\n%s", d.Logs())
	}
}
