package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/rexectest"
)

// inheritedFD is the descriptor number a careless parent leaves open in
// the daemon (as `exec 7</etc/passwd; rexec serve` would).
const inheritedFD = 7

// TestSessionDescriptors: a daemon started with descriptor 7 open
// (without close-on-exec) starts its sessions with only their standard
// descriptors, on pipes, on a PTY and through the legacy listener. The
// listing is of the session's shell (/proc/$$/fd, listed by a child ls
// that the trailing `exit 0` keeps the shell from exec'ing into), so
// ls's own directory descriptor is not in it.
func TestSessionDescriptors(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("not for sessions\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(secret)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	extra := make([]*os.File, inheritedFD-2)
	extra[inheritedFD-3] = f
	home := t.TempDir()
	legacyPort := rexectest.FreePort(t)
	d := startDaemonWith(t, home, extra, "--legacy-listen", "127.0.0.1:"+legacyPort)
	// The daemon does hold the descriptor, so a clean listing means
	// it was kept from the sessions, not that it never arrived.
	fdPath := fmt.Sprintf("/proc/%d/fd/%d", d.Cmd.Process.Pid, inheritedFD)
	if target, err := os.Readlink(fdPath); err != nil || target != secret {
		t.Fatalf("daemon's descriptor %d = %q, %v; want %s", inheritedFD, target, err, secret)
	}
	const list = "ls /proc/$$/fd; exit 0"
	tests := []struct {
		name string
		args []string
	}{
		{"pipes", []string{"run", d.host(), list}},
		{"pty", []string{"run", "-t", d.host(), list}},
		{"argv", []string{"run", d.host(), "--", "/bin/sh", "-c", list}},
		{"legacy", []string{"legacy", "127.0.0.1:" + legacyPort, "--", list}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rexec(t, home, nil, tt.args...)
			if r.code != 0 {
				t.Fatalf("rexec %q = %d, stdout %q, stderr %q", tt.args, r.code, r.stdout, r.stderr)
			}
			got := fdNumbers(r.stdout)
			if !slices.Equal(got, []string{"0", "1", "2"}) {
				t.Errorf("session's descriptors = %q; want 0 1 2 only", got)
			}
		})
	}
}

// fdNumbers returns the all-digit words of ls's output, sorted: the
// legacy client prints a JSON header line before the output, and a PTY
// ends lines with \r\n.
func fdNumbers(out string) []string {
	var fds []string
	for _, w := range strings.Fields(out) {
		if strings.Trim(w, "0123456789") == "" {
			fds = append(fds, w)
		}
	}
	slices.Sort(fds)
	return fds
}

// TestLocalIdentityAuthorizedOnce: the zero-config first run authorizes
// the local identity; nothing later does it again: not a new host key
// after the user took their key out of authorized_keys, not an empty
// authorized_keys the user made before the first start, not a home whose
// authorized_keys was deleted after its first run.
func TestLocalIdentityAuthorizedOnce(t *testing.T) {
	tests := []struct {
		name string
		// before prepares the home; nil is a fresh home.
		before func(t *testing.T, home string)
		// restart deletes these files after a first daemon ran, then
		// starts another; nil starts only one daemon.
		restart    func(t *testing.T, home string)
		authorized bool
	}{
		{name: "first run", authorized: true},
		{
			name: "key removed, host key deleted, restarted",
			restart: func(t *testing.T, home string) {
				writeFile(t, filepath.Join(home, "authorized_keys"), "# the user took their key out\n")
				removeFiles(t, home, "host_ed25519_key", "host_ed25519_key.pub", "known_hosts")
			},
		},
		{
			name: "existing empty authorized_keys",
			before: func(t *testing.T, home string) {
				if r := rexec(t, home, nil, "keygen"); r.code != 0 {
					t.Fatalf("keygen = %d %q", r.code, r.stderr)
				}
				writeFile(t, filepath.Join(home, "authorized_keys"), "")
			},
		},
		{
			name:    "authorized_keys deleted, restarted",
			restart: func(t *testing.T, home string) { removeFiles(t, home, "authorized_keys") },
		},
		{
			name: "key removed, restarted",
			restart: func(t *testing.T, home string) {
				writeFile(t, filepath.Join(home, "authorized_keys"), "")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "home")
			keysPath := filepath.Join(home, "authorized_keys")
			if tt.before != nil {
				if err := os.Mkdir(home, 0o700); err != nil {
					t.Fatal(err)
				}
				tt.before(t, home)
			}
			if tt.restart != nil {
				startDaemon(t, home).Stop(t)
				tt.restart(t, home)
			}
			left, leftErr := os.ReadFile(keysPath) // what the user left
			d := startDaemon(t, home)
			pub, err := os.ReadFile(filepath.Join(home, "id_ed25519.pub"))
			if err != nil {
				t.Fatal(err)
			}
			key := strings.Join(strings.Fields(string(pub))[:2], " ")
			marker := filepath.Join(t.TempDir(), "ran")
			r := rexec(t, home, nil, "run", d.host(), "touch "+marker)
			_, ranErr := os.Stat(marker)
			now, nowErr := os.ReadFile(keysPath)
			if tt.authorized {
				if r.code != 0 || ranErr != nil || !strings.Contains(string(now), key) {
					t.Errorf("run = %d %q, authorized_keys %q; want the identity authorized and the command run", r.code, r.stderr, now)
				}
				return
			}
			if r.code != 255 || !strings.Contains(r.stderr, "not authorized") || ranErr == nil {
				t.Errorf("run = %d %q (ran: %v); want 255, not authorized, nothing run", r.code, r.stderr, ranErr == nil)
			}
			if string(now) != string(left) || (nowErr == nil) != (leftErr == nil) {
				t.Errorf("authorized_keys = %q (%v) after the start, was %q (%v); want it untouched", now, nowErr, left, leftErr)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func removeFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLeftoverSessionsKilled: a daemon killed with SIGKILL leaves its
// session (`sleep 1000`) running in its cgroup; the next daemon started
// with the same home, in the same parent cgroup, kills it at start (gone
// within 2 s), removes its cgroup and logs it; a second daemon that is
// alive all along keeps its own session running through that sweep.
func TestLeftoverSessionsKilled(t *testing.T) {
	ownRel, parent := ownCgroup2Dir(t)
	live := startDaemon(t, t.TempDir())
	home := t.TempDir()
	// its client retries a resume (docs/CLI.md §10.3) for this long only
	doomed := startDaemon(t, home, "--resume-window", "1s")
	livePid, liveClient := sleepSession(t, live)
	deadPid, deadClient := sleepSession(t, doomed)

	// Each session is in a cgroup its own daemon owns, under the parent.
	deadCg := sessionCgroup(t, deadPid, ownRel, parent, doomed.Cmd.Process.Pid)
	liveCg := sessionCgroup(t, livePid, ownRel, parent, live.Cmd.Process.Pid)

	doomed.Kill(t)
	if code := waitClient(deadClient); code != 255 {
		t.Fatalf("client of the killed daemon = %d, want 255 (connection lost)", code)
	}
	if !rexectest.Alive(deadPid) {
		t.Fatal("the session died with its daemon: nothing left for the next daemon to find")
	}
	next := startDaemon(t, home) // it sweeps before it serves
	if alive := rexectest.WaitGone(2*time.Second, deadPid); len(alive) > 0 {
		t.Errorf("the killed daemon's session %d still runs 2 s after the next daemon started", deadPid)
	}
	if _, err := os.Stat(deadCg); !os.IsNotExist(err) {
		t.Errorf("leftover cgroup %s: %v; want it removed", deadCg, err)
	}
	if !rexectest.Alive(livePid) {
		t.Errorf("the live daemon's session %d was killed by another daemon's start", livePid)
	}
	if _, err := os.Stat(liveCg); err != nil {
		t.Errorf("the live daemon's session cgroup: %v", err)
	}
	if r := rexec(t, live.Home, nil, "run", live.host(), "echo still here"); r.code != 0 || r.stdout != "still here\n" {
		t.Errorf("the live daemon after the sweep: run = %d %q %q", r.code, r.stdout, r.stderr)
	}
	logged := false
	for _, l := range strings.Split(next.Logs(), "\n") {
		logged = logged || strings.Contains(l, `"cgroup":"`+filepath.Base(deadCg)+`"`) && strings.Contains(l, `"processes":1`)
	}
	if !logged {
		t.Errorf("the next daemon did not log %s with its 1 process; log:\n%s", filepath.Base(deadCg), next.Logs())
	}
	// The live session ends as any other: its process killed, its
	// client reports it.
	_ = syscall.Kill(livePid, syscall.SIGKILL)
	if code := waitClient(liveClient); code != 137 {
		t.Errorf("live client after its sleep was killed = %d, want 137", code)
	}
}

// ownCgroup2Dir returns this process's cgroup v2 as /proc/self/cgroup
// names it and as a directory, where the daemons it starts put their
// session cgroups; it skips the test only when there is no cgroup v2.
func ownCgroup2Dir(t *testing.T) (rel, dir string) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skipf("no /proc/self/cgroup: %v", err)
	}
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		if r, ok := strings.CutPrefix(line, "0::"); ok {
			rel, found = r, true
		}
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil || !found {
		t.Skipf("no cgroup v2 entry for this process (%v)", err)
	}
	for _, line := range strings.Split(string(mi), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f := strings.Fields(pre)
		if ok && strings.HasPrefix(post, "cgroup2 ") && len(f) >= 5 {
			// A mount of a sub-tree (root f[3]) shows paths below it.
			return rel, filepath.Join(f[4], strings.TrimPrefix(rel, strings.TrimSuffix(f[3], "/")))
		}
	}
	t.Skip("no cgroup v2 mounted")
	return "", ""
}

// sleepSession runs `sleep 1000` in a session of d and returns its pid
// (the shell's, which execs sleep) and the running client.
func sleepSession(t *testing.T, d *daemon) (int, *exec.Cmd) {
	t.Helper()
	client, out := startRexec(t, d.Home, "run", d.host(), "echo $$; exec sleep 1000")
	pid := readPids(t, out, 1)[0]
	t.Cleanup(func() {
		// Still our sleep (not a reused pid) when a check failed.
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); string(b) == "sleep\x001000\x00" {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = client.Process.Kill()
		waitClient(client)
	})
	return pid, client
}

// waitClient waits (bounded) for a client started by startRexec and
// returns its exit status, -1 when it had to be killed after 20 s.
func waitClient(c *exec.Cmd) int {
	if c.ProcessState == nil {
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = c.Process.Kill()
			<-done
			return -1
		}
	}
	return c.ProcessState.ExitCode()
}

// sessionCgroup returns the cgroup directory of process pid, which must
// be a session cgroup owned by the daemon daemonPid, in the test's own
// cgroup (ownRel as /proc names it, parent as a directory).
func sessionCgroup(t *testing.T, pid int, ownRel, parent string, daemonPid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rel, ok := strings.CutPrefix(line, "0::"); ok {
			want := fmt.Sprintf("rexec-%d-", daemonPid)
			if filepath.Dir(rel) != ownRel || !strings.HasPrefix(filepath.Base(rel), want) {
				t.Fatalf("session %d is in cgroup %s; want %s* in %s", pid, rel, want, ownRel)
			}
			return filepath.Join(parent, filepath.Base(rel))
		}
	}
	t.Fatalf("session %d has no cgroup v2: %q", pid, b)
	return ""
}
