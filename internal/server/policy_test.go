//go:build linux

package server

import (
	"os"
	"strings"
	"testing"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// withOptions rewrites the test server's authorized_keys so the client key
// carries opts (picked up at the next connection).
func (ts *testServer) withOptions(t *testing.T, opts string) {
	t.Helper()
	line := opts + " " + auth.AuthorizedLine(ts.client.Public, ts.client.Comment) + "\n"
	if err := os.WriteFile(ts.keysPath, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestKeyPolicy(t *testing.T) {
	tests := []struct {
		name     string
		opts     string
		req      protocol.Exec
		stdout   string
		code     int
		deniedBy string // non-empty: an error frame "denied" naming this rule
	}{
		{"forced command sees the original", `command="echo forced: $REXEC_ORIGINAL_COMMAND"`,
			protocol.Exec{Argv: []string{"rm", "-rf", "a b"}}, "forced: rm -rf 'a b'\n", 0, ""},
		{"forced command replaces a shell string", `command="echo only this"`,
			protocol.Exec{Command: "touch /tmp/never"}, "only this\n", 0, ""},
		{"no-pty refuses a terminal", `no-pty`,
			protocol.Exec{Command: "tty", PTY: true}, "", 0, "no-pty"},
		{"no-pty allows plain exec", `no-pty`,
			protocol.Exec{Command: "echo fine"}, "fine\n", 0, ""},
		{"restrict implies no-pty", `restrict`,
			protocol.Exec{Command: "tty", PTY: true}, "", 0, "no-pty"},
		{"allow admits a listed argv", `allow="echo * *,uname"`,
			protocol.Exec{Argv: []string{"echo", "hi", "there"}}, "hi there\n", 0, ""},
		{"allow refuses an unlisted argv", `allow="echo *"`,
			protocol.Exec{Argv: []string{"id"}}, "", 0, "allow="},
		{"allow refuses shell strings", `allow="*,echo after"`,
			protocol.Exec{Command: "echo hi; id"}, "", 0, "allow="},
		{"allow refuses a login shell", `allow="*,echo after"`,
			protocol.Exec{}, "", 0, "allow="},
		{"environment wins over the client", `environment="MODE=admin"`,
			protocol.Exec{Command: "echo $MODE", Env: map[string]string{"MODE": "user"}}, "admin\n", 0, ""},
		// Subsystems obey the key as exec and file requests do: a forced
		// command replaces sftp, a key without file transfer is refused it.
		{"forced command replaces sftp", `command="echo forced: $REXEC_ORIGINAL_COMMAND"`,
			protocol.Exec{Subsystem: "sftp"}, "forced: sftp\n", 0, ""},
		{"forced command replaces sftp even with file-transfer", `command="echo forced",file-transfer`,
			protocol.Exec{Subsystem: "sftp"}, "forced\n", 0, ""},
		{"restrict refuses sftp", `restrict`, protocol.Exec{Subsystem: "sftp"}, "", 0, "no-file-transfer"},
		{"no-file-transfer refuses sftp", `no-file-transfer`, protocol.Exec{Subsystem: "sftp"}, "", 0, "no-file-transfer"},
		{"allow= refuses sftp", `allow="*,echo after"`, protocol.Exec{Subsystem: "sftp"}, "", 0, "no-file-transfer"},
		{"allow= with file-transfer refuses sftp", `allow="*,echo after",file-transfer`, protocol.Exec{Subsystem: "sftp"}, "", 0, "allow="},
		{"an unknown subsystem is refused", ``, protocol.Exec{Subsystem: "shell"}, "", 0, "subsystem:"},
		// send_env (ssh's SendEnv, SetEnv): what the accept list admits
		// is set, the rest dropped without a denial, for any key.
		{"send_env for a restricted key", `no-pty`,
			protocol.Exec{Command: "echo $LANG/$FOO/$LD_PRELOAD/$PATH", SendEnv: map[string]string{
				"LANG": "C", "FOO": "x", "LD_PRELOAD": "/tmp/evil.so", "PATH": "/tmp/evil"}}, "C///" + os.Getenv("PATH") + "\n", 0, ""},
		{"send_env for a forced command", `command="echo $GIT_PROTOCOL/$BASH_ENV"`,
			protocol.Exec{Command: "x", SendEnv: map[string]string{"GIT_PROTOCOL": "version=2", "BASH_ENV": "/tmp/evil"}}, "version=2/\n", 0, ""},
		{"send_env for any key goes through the accept list", ``,
			protocol.Exec{Command: "echo $GIT_PROTOCOL/$FOO/$LC_ALL", SendEnv: map[string]string{
				"GIT_PROTOCOL": "version=2", "FOO": "x", "LC_ALL": "../../tmp"}}, "version=2//\n", 0, ""},
		{"env wins over send_env", ``,
			protocol.Exec{Command: "echo $LANG", Env: map[string]string{"LANG": "C.UTF-8"}, SendEnv: map[string]string{"LANG": "C"}}, "C.UTF-8\n", 0, ""},
	}
	ts := startServer(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts.withOptions(t, tt.opts)
			c := ts.dial(t)
			defer c.close()
			r := c.mustRun(t, tt.req, "")
			if tt.deniedBy != "" {
				if r.err == nil || r.err.Code != protocol.CodeDenied || !strings.Contains(r.err.Message, tt.deniedBy) {
					t.Fatalf("%s: got %v; want error denied naming %q", tt.opts, r, tt.deniedBy)
				}
				// denied is not fatal: the same connection still runs commands
				if ok := c.mustRun(t, protocol.Exec{Argv: []string{"echo", "after"}}, ""); ok.exit == nil {
					t.Fatalf("after a denial the connection no longer works: %v", ok)
				}
				return
			}
			if r.exit == nil || r.exit.Code != tt.code || r.stdout != tt.stdout {
				t.Errorf("%s: got %v; want exit %d stdout %q", tt.opts, r, tt.code, tt.stdout)
			}
		})
	}
}

// TestSFTPSubsystem: an unrestricted key's -s sftp gets an SFTP server,
// which answers SSH_FXP_INIT with SSH_FXP_VERSION (draft-ietf-secsh-filexfer-02
// §4), running as a session of the account.
func TestSFTPSubsystem(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	defer c.close()
	initPacket := "\x00\x00\x00\x05\x01\x00\x00\x00\x03" // length 5, SSH_FXP_INIT, version 3
	r := c.mustRun(t, protocol.Exec{Subsystem: "sftp"}, initPacket)
	if r.exit == nil || r.exit.Code != 0 || len(r.stdout) < 9 || r.stdout[4] != 2 {
		t.Fatalf("sftp subsystem: %v; want an SSH_FXP_VERSION packet and exit 0", r)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"plain": "plain", "a b": "'a b'", "it's": `'it'\''s'`, "": "''", "$(id)": "'$(id)'"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}
