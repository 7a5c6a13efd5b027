package cli_test

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/rexectest"
)

// TestZeroConfigFirstRun is the first run of docs/CLI.md §5: a fresh home, `rexec
// serve`, then `rexec run localhost -- uname -a` with no prompt and no
// other set-up.
func TestZeroConfigFirstRun(t *testing.T) {
	home := filepath.Join(t.TempDir(), "fresh")
	d := startDaemon(t, home)
	r := rexec(t, home, nil, "run", d.host(), "--", "uname", "-a")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "Linux") {
		t.Fatalf("run uname -a = %d, %q, %q; want 0 and Linux...", r.code, r.stdout, r.stderr)
	}
	for _, name := range []string{"host_ed25519_key", "id_ed25519", "authorized_keys", "known_hosts"} {
		if _, err := os.Stat(filepath.Join(home, name)); err != nil {
			t.Errorf("first run did not create %s: %v", name, err)
		}
	}
}

func TestExitStatus(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"exit code", []string{"exit 7"}, 7},
		{"killed by SIGKILL", []string{"kill -9 $$"}, 137},
		{"killed by SIGTERM", []string{"kill -TERM $$"}, 143},
		{"argv not found", []string{"--", "/nonexistent/prog", "x"}, 127},
		{"success", []string{"true"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rexec(t, home, nil, append([]string{"run", d.host()}, tt.args...)...)
			if r.code != tt.code {
				t.Errorf("run %q = %d (stderr %q), want %d", tt.args, r.code, r.stderr, tt.code)
			}
		})
	}
}

func TestNothingListening(t *testing.T) {
	home := t.TempDir()
	startDaemon(t, home) // creates an identity
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := rexec(t, home, nil, "run", "localhost:"+strconv.Itoa(port), "true")
	if r.code != 255 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "refused") {
		t.Errorf("run to closed port = %d, stderr %q; want 255 and one line saying refused", r.code, r.stderr)
	}
}

// TestHostKeyTrust covers the trust rules of docs/CLI.md §5 without a terminal.
func TestHostKeyTrust(t *testing.T) {
	srvHome := t.TempDir()
	d := startDaemon(t, srvHome)
	cliHome := t.TempDir()
	if r := rexec(t, cliHome, nil, "keygen"); r.code != 0 {
		t.Fatalf("keygen = %d %q", r.code, r.stderr)
	}
	if r := rexec(t, srvHome, nil, "authorize", filepath.Join(cliHome, "id_ed25519.pub")); r.code != 0 {
		t.Fatalf("authorize = %d %q", r.code, r.stderr)
	}
	marker := filepath.Join(t.TempDir(), "ran")
	r := rexec(t, cliHome, nil, "run", d.host(), "touch "+marker)
	if r.code != 255 || !strings.Contains(r.stderr, "unknown host key") {
		t.Fatalf("unknown host key without terminal = %d %q; want 255", r.code, r.stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("command ran although the host key was refused")
	}
	if r := rexec(t, cliHome, nil, "run", "--accept-new", d.host(), "echo ok"); r.code != 0 || r.stdout != "ok\n" {
		t.Fatalf("--accept-new = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := rexec(t, cliHome, nil, "run", d.host(), "echo again"); r.code != 0 || r.stdout != "again\n" {
		t.Fatalf("after pinning = %d %q %q", r.code, r.stdout, r.stderr)
	}

	// A different server key on the same address: refused, always, naming both.
	pinned := fingerprintOf(t, srvHome)
	d.Stop(t)
	os.Remove(filepath.Join(srvHome, "host_ed25519_key"))
	os.Remove(filepath.Join(srvHome, "host_ed25519_key.pub"))
	d2 := startDaemon(t, srvHome, "--listen", "127.0.0.1:"+d.Port())
	fresh := fingerprintOf(t, srvHome)
	for _, extra := range [][]string{nil, {"--accept-new"}} {
		args := append(append([]string{"run"}, extra...), d2.host(), "touch "+marker)
		r := rexec(t, cliHome, nil, args...)
		if r.code != 255 || !strings.Contains(r.stderr, pinned) || !strings.Contains(r.stderr, fresh) {
			t.Errorf("changed host key %v = %d %q; want 255 naming %s and %s", extra, r.code, r.stderr, pinned, fresh)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("command ran on a server whose key changed")
	}
}

// fingerprintOf returns the SHA256 fingerprint of a home's host key as
// ssh-keygen -lf prints it (second field).
func fingerprintOf(t *testing.T, home string) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-lf", filepath.Join(home, "host_ed25519_key.pub")).Output()
	if err != nil {
		t.Skipf("ssh-keygen not available: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		t.Fatalf("ssh-keygen -lf: %q", out)
	}
	return f[1]
}

func TestUnauthorizedClientRunsNothing(t *testing.T) {
	srvHome := t.TempDir()
	d := startDaemon(t, srvHome)
	cliHome := t.TempDir()
	rexec(t, cliHome, nil, "keygen")
	marker := filepath.Join(t.TempDir(), "ran")
	r := rexec(t, cliHome, nil, "run", "--accept-new", d.host(), "touch "+marker)
	if r.code != 255 || !strings.Contains(r.stderr, "not authorized") {
		t.Errorf("unauthorized = %d %q; want 255 and 'not authorized'", r.code, r.stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the server ran a command for an unauthorized key")
	}
}

func TestStreamsAndArgs(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	tests := []struct {
		name           string
		stdin          string
		args           []string
		stdout, stderr string
	}{
		{"separate streams", "", []string{"echo out; echo err >&2"}, "out\n", "err\n"},
		{"stdin with EOF", "a\nb\n", []string{"--", "wc", "-l"}, "2\n", ""},
		{"argv is literal", "", []string{"--", "printf", `%s\n`, "a b", "$(id)"}, "a b\n$(id)\n", ""},
		{"env and cwd", "", []string{"-e", "GREETING=hi there", "-C", "/tmp", "--", "sh", "-c", `echo "$GREETING"; pwd`}, "hi there\n/tmp\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args []string
			if tt.args[0] == "-e" { // flags before the host
				args = append(append([]string{"run"}, tt.args[:4]...), append([]string{d.host()}, tt.args[4:]...)...)
			} else {
				args = append([]string{"run", d.host()}, tt.args...)
			}
			r := rexec(t, home, strings.NewReader(tt.stdin), args...)
			if r.code != 0 || r.stdout != tt.stdout || r.stderr != tt.stderr {
				t.Errorf("run %q = %d, %q, %q; want 0, %q, %q", tt.args, r.code, r.stdout, r.stderr, tt.stdout, tt.stderr)
			}
		})
	}
}

// TestBulkBothDirections pushes 64 MiB of random bytes through a remote cat.
func TestBulkBothDirections(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	data := make([]byte, 64<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	r := rexec(t, home, strings.NewReader(string(data)), "run", d.host(), "cat")
	if r.code != 0 || sha256.Sum256([]byte(r.stdout)) != sha256.Sum256(data) {
		t.Fatalf("64 MiB through cat: code %d, %d bytes back, stderr %q; want identical sha256", r.code, len(r.stdout), r.stderr)
	}
}

// TestOutputIsStreamed checks the first line arrives long before the
// command ends (the margin is seconds: this is about buffering, not speed).
func TestOutputIsStreamed(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	start := time.Now()
	cmd, out := startRexec(t, home, "run", d.host(), "echo start; sleep 3; echo end")
	defer cmd.Wait()
	line, err := bufio.NewReader(out).ReadString('\n')
	if took := time.Since(start); err != nil || line != "start\n" || took > time.Second {
		t.Errorf("first line %q (err %v) after %v; want start within 1s", line, err, took)
	}
	io.Copy(io.Discard, out)
}

// TestNoOrphans: a SIGKILLed client and a --timeout both leave no remote
// process behind, setsid'd descendants included. A killed client's
// session is held for a resume for the daemon's --resume-window, then
// torn down within the bound a session without resume has.
func TestNoOrphans(t *testing.T) {
	home := t.TempDir()
	const window = 500 * time.Millisecond
	d := startDaemon(t, home, "--resume-window", window.String())
	t.Run("client killed", func(t *testing.T) {
		cmd, out := startRexec(t, home, "run", d.host(),
			"sleep 1000 & echo $!; setsid sleep 1001 & echo $!; sleep 0.2; wait")
		pids := readPids(t, out, 2)
		cmd.Process.Kill()
		cmd.Wait()
		if alive := rexectest.WaitGone(window+3*time.Second, pids...); len(alive) > 0 {
			t.Errorf("processes %v survived the client's SIGKILL by the resume window and 3 s", alive)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "pids")
		r := rexec(t, home, nil, "run", "--timeout", "1s", d.host(),
			"echo $$ > "+pidFile+"; setsid sleep 100 & echo $! >> "+pidFile+"; sleep 100 & echo $! >> "+pidFile+"; wait")
		if r.code != 124 {
			t.Errorf("--timeout 1s = %d %q; want 124", r.code, r.stderr)
		}
		b, _ := os.ReadFile(pidFile)
		var pids []int
		for _, f := range strings.Fields(string(b)) {
			pid, _ := strconv.Atoi(f)
			pids = append(pids, pid)
		}
		if len(pids) != 3 {
			t.Fatalf("pid file holds %q, want 3 pids", b)
		}
		for _, pid := range pids {
			if rexectest.Alive(pid) {
				t.Errorf("process %d still alive after the timeout", pid)
			}
		}
	})
}

// TestClientSignalsForwarded: SIGINT and SIGTERM at the client reach the
// remote command, whose own exit status the client then returns; a second
// signal gives up on a command that ignores the first: the client exits
// 255 and the server kills the remote tree at once (the run is resumable,
// and the daemon's resume window is far longer than the bound: the
// client's abort, not the window, ended it).
func TestClientSignalsForwarded(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home, "--resume-window", "10m")
	// start runs script, waits for its first line (its shell's pid) and
	// returns the client, its exit channel and the rest of its output.
	start := func(t *testing.T, script string) (*exec.Cmd, int, <-chan error, *bufio.Scanner) {
		t.Helper()
		cmd, out := startRexec(t, home, "run", d.host(), script)
		sc := bufio.NewScanner(out)
		if !sc.Scan() {
			t.Fatalf("no first line from %q", script)
		}
		pid, err := strconv.Atoi(sc.Text())
		if err != nil {
			t.Fatalf("first line %q is not a pid", sc.Text())
		}
		exited := make(chan error, 1)
		go func() {
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "got ") {
					break
				}
			}
			exited <- cmd.Wait()
		}()
		return cmd, pid, exited, sc
	}
	wait := func(t *testing.T, cmd *exec.Cmd, exited <-chan error) int {
		t.Helper()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Fatal("the client did not exit within 10 s of the signal")
		}
		return cmd.ProcessState.ExitCode()
	}
	for _, tt := range []struct {
		sig  syscall.Signal
		name string
		code int
	}{
		{syscall.SIGINT, "INT", 3},
		{syscall.SIGTERM, "TERM", 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			script := fmt.Sprintf("trap 'echo got %s; exit %d' %s; echo $$; while :; do sleep 0.05; done", tt.name, tt.code, tt.name)
			cmd, _, exited, sc := start(t, script)
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			if code := wait(t, cmd, exited); code != tt.code {
				t.Errorf("client exit status %d after SIG%s, want the remote trap's %d", code, tt.name, tt.code)
			}
			if got := sc.Text(); got != "got "+tt.name {
				t.Errorf("last line %q, want %q from the remote trap", got, "got "+tt.name)
			}
		})
	}
	t.Run("second signal gives up", func(t *testing.T) {
		cmd, pid, exited, _ := start(t, "trap '' INT; echo $$; while :; do sleep 0.05; done")
		for range 2 {
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if code := wait(t, cmd, exited); code != 255 {
			t.Errorf("client exit status %d after two SIGINTs, want 255", code)
		}
		if alive := rexectest.WaitGone(3*time.Second, pid); len(alive) > 0 {
			t.Errorf("remote shell %d survived the client giving up by 3 s", pid)
		}
	})
}

func readPids(t *testing.T, r io.Reader, n int) []int {
	t.Helper()
	sc := bufio.NewScanner(r)
	var pids []int
	for len(pids) < n && sc.Scan() {
		pid, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
		if err != nil {
			t.Fatalf("bad pid line %q", sc.Text())
		}
		pids = append(pids, pid)
	}
	if len(pids) < n {
		t.Fatalf("got pids %v, want %d", pids, n)
	}
	return pids
}

func TestConcurrentClients(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rexec(t, home, nil, "run", d.host(), "sleep 1; echo ok")
			if r.code != 0 || r.stdout != "ok\n" {
				errs <- fmt.Sprintf("code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestDrainOnSIGTERM: a running session finishes within the grace period,
// and one that outlives it is killed before serve exits.
func TestDrainOnSIGTERM(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home, "--grace", "2s")
	// Both sessions print before the signal, so both are surely running.
	short := exec.Command(rexecBin, "run", d.host(), "echo 0; sleep 0.5; echo finished")
	short.Env = append(os.Environ(), "REXEC_HOME="+home)
	long := exec.Command(rexecBin, "run", d.host(), "echo $$; exec sleep 1000")
	long.Env = short.Env
	shortOut, _ := short.StdoutPipe()
	longOut, _ := long.StdoutPipe()
	if err := short.Start(); err != nil {
		t.Fatal(err)
	}
	if err := long.Start(); err != nil {
		t.Fatal(err)
	}
	shortR := bufio.NewReader(shortOut)
	if first, err := shortR.ReadString('\n'); err != nil || first != "0\n" {
		t.Fatalf("short session's first line = %q, %v", first, err)
	}
	pid := readPids(t, longOut, 1)[0]
	d.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not exit after SIGTERM and the grace period")
	}
	rest, _ := io.ReadAll(shortR)
	short.Wait()
	long.Wait()
	if string(rest) != "finished\n" {
		t.Errorf("session running at SIGTERM printed %q after the signal, want it to finish", rest)
	}
	if rexectest.Alive(pid) {
		t.Errorf("session outliving the grace period (pid %d) was not killed", pid)
	}
}

// TestServerMemoryBoundedWhileStreaming streams 4 GiB and checks the
// daemon's peak RSS (VmHWM) stays under 64 MiB: output is never held whole.
func TestServerMemoryBoundedWhileStreaming(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 4 GiB")
	}
	home := t.TempDir()
	d := startDaemon(t, home)
	cmd, out := startRexec(t, home, "run", d.host(), "head -c 4G /dev/zero")
	n, _ := io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil || n != 4<<30 {
		t.Fatalf("streamed %d bytes, err %v; want 4 GiB", n, err)
	}
	hwm := procStatusKB(t, d.Cmd.Process.Pid, "VmHWM")
	t.Logf("daemon peak RSS %d KiB after 4 GiB", hwm)
	if hwm >= 64<<10 {
		t.Errorf("daemon peak RSS %d KiB, want < 64 MiB", hwm)
	}
}

// TestShellLineMode: without a terminal, `rexec shell` runs the login
// shell on the commands from stdin, like `ssh host < script`.
func TestShellLineMode(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	r := rexec(t, home, strings.NewReader("echo one\ntty || true\nexit 5\n"), "shell", d.host())
	if r.code != 5 || !strings.HasPrefix(r.stdout, "one\nnot a tty\n") {
		t.Errorf("shell < script = %d, %q, %q; want 5 and one, not a tty", r.code, r.stdout, r.stderr)
	}
	r = rexec(t, home, strings.NewReader("tty\nexit\n"), "shell", "-t", d.host())
	if !strings.Contains(r.stdout, "/dev/pts/") {
		t.Errorf("shell -t < script printed %q, want a /dev/pts terminal", r.stdout)
	}
	r = rexec(t, home, nil, "run", "-t", "-T", d.host(), "true")
	if r.code != 2 {
		t.Errorf("-t with -T = %d, want usage error 2", r.code)
	}
}
