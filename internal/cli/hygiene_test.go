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
