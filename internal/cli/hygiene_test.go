package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
	legacyPort := freePort(t)
	d := startDaemonWith(t, home, extra, "--legacy-listen", "127.0.0.1:"+legacyPort)
	// The daemon does hold the descriptor, so a clean listing means
	// it was kept from the sessions, not that it never arrived.
	fdPath := fmt.Sprintf("/proc/%d/fd/%d", d.cmd.Process.Pid, inheritedFD)
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
				startDaemon(t, home).stop(t)
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
