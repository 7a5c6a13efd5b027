//go:build linux

package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestVersion: --version and the version command print the same line.
func TestVersion(t *testing.T) {
	home := t.TempDir()
	a, b := rexec(t, home, nil, "--version"), rexec(t, home, nil, "version")
	want := regexp.MustCompile(`^rexec \S+ go\S+ ` + runtime.GOOS + "/" + runtime.GOARCH + "\n$")
	if a.code != 0 || !want.MatchString(a.stdout) || a.stdout != b.stdout {
		t.Errorf("--version = %d %q, version = %q", a.code, a.stdout, b.stdout)
	}
}

// TestBashCompletion sources `rexec completion bash` in a bash that has
// bash-completion loaded (as a user's has) and completes `rexec r`.
func TestBashCompletion(t *testing.T) {
	const lib = "/usr/share/bash-completion/bash_completion"
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("%s is needed (.ci/run installs bash-completion): %v", lib, err)
	}
	script := `source ` + lib + `; source <(rexec completion bash)
COMP_WORDS=(rexec r); COMP_CWORD=1; COMP_LINE="rexec r"; COMP_POINT=${#COMP_LINE}
__start_rexec rexec r rexec 2>/dev/null; echo "${COMPREPLY[*]}"`
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(rexecBin)+":"+os.Getenv("PATH"), "REXEC_HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != "run" {
		t.Fatalf("completing `rexec r` = %q, %v; want run", out, err)
	}
	for _, sh := range []string{"zsh", "fish"} {
		if r := rexec(t, t.TempDir(), nil, "completion", sh); r.code != 0 || !strings.Contains(r.stdout, "rexec") {
			t.Errorf("completion %s = %d %q", sh, r.code, r.stderr)
		}
	}
	if r := rexec(t, t.TempDir(), nil, "completion", "tcsh"); r.code != 2 || !strings.Contains(r.stderr, "bash, zsh or fish") {
		t.Errorf("completion tcsh = %d %q", r.code, r.stderr)
	}
}

// TestHelpHasExamples: every command's --help shows an example.
func TestHelpHasExamples(t *testing.T) {
	home := t.TempDir()
	cmds := []string{"", "serve", "run", "shell", "cp", "keygen", "authorize", "trust", "legacy",
		"audit", "audit verify", "audit head", "version", "completion"}
	for _, c := range cmds {
		args := append(strings.Fields(c), "--help")
		r := rexec(t, home, nil, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Examples:") {
			t.Errorf("rexec %s --help has no example (exit %d)", c, r.code)
		}
	}
}

// TestTrustRemove: a host key pinned by the first run is forgotten, the
// next connection asks again (refused without a terminal), and trust
// pins it again.
func TestTrustRemove(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	r := rexec(t, home, nil, "trust", "--remove", d.host())
	if r.code != 0 || !strings.Contains(r.stdout, "removed") || !strings.Contains(r.stdout, "known_hosts.old") {
		t.Fatalf("trust --remove = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := rexec(t, home, nil, "run", d.host(), "true"); r.code != 255 || !strings.Contains(r.stderr, "unknown host key") {
		t.Fatalf("after --remove: %d %q; want an unknown host key", r.code, r.stderr)
	}
	if r := rexec(t, home, nil, "trust", "--remove", d.host()); r.code != 0 || !strings.Contains(r.stdout, "no key pinned") {
		t.Errorf("second --remove = %d %q", r.code, r.stdout)
	}
	if r := rexec(t, home, nil, "trust", "-y", d.host()); r.code != 0 {
		t.Fatalf("trust -y = %d %q", r.code, r.stderr)
	}
	if r := rexec(t, home, nil, "run", d.host(), "true"); r.code != 0 {
		t.Fatalf("after trust: %d %q", r.code, r.stderr)
	}
}

// TestDeclinedHostKeyPrompt: answering no at the host-key prompt on a
// real terminal says so (not "no terminal") and exits 255.
func TestDeclinedHostKeyPrompt(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	rexec(t, home, nil, "trust", "--remove", d.host())
	p := newTmuxPane(t, home, 120, 30)
	p.line("rexec run " + d.host() + " true; echo EXIT=$?")
	p.waitFor(regexp.MustCompile(`continue connecting \(yes/no\)\?`), "the host-key prompt")
	p.line("no")
	p.waitFor(regexp.MustCompile(`(?m)^EXIT=255`), "exit 255")
	if s := p.screen(); !strings.Contains(s, "you answered no") || strings.Contains(s, "not a terminal") {
		t.Errorf("declined prompt; screen:\n%s", s)
	}
}

// TestTimeoutAndShutdownMessages: --timeout firing and a daemon shutting
// down each say what happened on stderr.
func TestTimeoutAndShutdownMessages(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home, "--grace", "200ms")
	r := rexec(t, home, nil, "run", "--timeout", "500ms", d.host(), "sleep 5")
	if r.code != 124 || !strings.Contains(r.stderr, "timed out after 500ms") {
		t.Errorf("--timeout = %d %q; want 124 and a line saying it timed out", r.code, r.stderr)
	}
	cmd := exec.Command(rexecBin, "run", d.host(), "sleep 30")
	cmd.Env = append(os.Environ(), "REXEC_HOME="+home)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	d.Cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 255 || !strings.Contains(stderr.String(), "shutting down") {
		t.Errorf("during shutdown: %v %q; want 255 and a line saying the server is shutting down", err, stderr.String())
	}
}

// TestRemoteDirectoryMissing: an upload into a remote directory that does
// not exist says so, naming the directory.
func TestRemoteDirectoryMissing(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	src := filepath.Join(t.TempDir(), "f")
	os.WriteFile(src, []byte("x"), 0o644)
	missing := filepath.Join(t.TempDir(), "no", "such")
	for _, dst := range []string{missing + "/", missing + "/f"} {
		r := rexec(t, home, nil, "cp", "-P", d.Port(), src, "localhost:"+dst)
		if r.code != 1 || !strings.Contains(r.stderr, missing) || !strings.Contains(r.stderr, "does not exist") &&
			!strings.Contains(r.stderr, "no such directory") {
			t.Errorf("cp into %s = %d %q; want 1 and the missing directory named", dst, r.code, r.stderr)
		}
	}
}
