//go:build linux

package cli_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/config"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// setOptions rewrites the daemon's authorized_keys so that the home's own
// identity carries opts (a running daemon notices the change by itself).
func setOptions(t *testing.T, home, opts string) {
	t.Helper()
	id, err := auth.LoadIdentity(filepath.Join(home, config.IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	line := auth.AuthorizedLine(id.Public, id.Comment)
	if opts != "" {
		line = opts + " " + line
	}
	replaceFile(t, filepath.Join(home, config.AuthorizedKeysFile), line+"\n")
}

// replaceFile writes content to path through a rename, mode 0600.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".new", []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// TestRestrictedKeyFindings replays the findings with the real
// binaries: a client holding a restricted key widens nothing with its
// environment, a working directory or a file request, and allow= keys
// get denials that say what to send instead.
func TestRestrictedKeyFindings(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	tmp := t.TempDir()
	sentinel := filepath.Join(tmp, "sentinel")
	payload := "#!/bin/sh\n: > " + sentinel + "\n"
	evilBin := filepath.Join(tmp, "evilbin")
	os.Mkdir(evilBin, 0o755)
	os.WriteFile(filepath.Join(evilBin, "ls"), []byte(payload), 0o755)
	bashEnv := filepath.Join(tmp, "bash_env")
	os.WriteFile(bashEnv, []byte(payload), 0o755)
	hostKey := filepath.Join(home, config.HostKeyFile)
	hostKeyBefore, _ := os.ReadFile(hostKey)

	tests := []struct {
		name, opts string
		args       []string
		code       int
		stderr     string // part of the one-line error, "" when it runs
	}{
		{"BASH_ENV under a forced command", `restrict,command="/usr/bin/date"`,
			[]string{"run", "-e", "BASH_ENV=" + bashEnv, d.host(), "x"}, 255, "may not set BASH_ENV"},
		{"PATH under allow=", `allow="ls *"`,
			[]string{"run", "-e", "PATH=" + evilBin, d.host(), "--", "ls", "."}, 255, "may not set PATH"},
		{"LD_PRELOAD under allow=", `allow="/usr/bin/id"`,
			[]string{"run", "--no-shell", "-e", "LD_PRELOAD=" + bashEnv, d.host(), "--", "/usr/bin/id"}, 255, "may not set LD_PRELOAD"},
		{"an unlisted variable", `restrict`,
			[]string{"run", "-e", "FOO=bar", d.host(), "true"}, 255, "FOO is not accepted"},
		{"an accepted variable", `restrict`,
			[]string{"run", "-e", "LANG=C.UTF-8", d.host(), "--", "sh", "-c", "test \"$LANG\" = C.UTF-8"}, 0, ""},
		{"working directory", `command="/usr/bin/date"`,
			[]string{"run", "-C", "/", d.host(), "x"}, 255, "may not choose a working directory"},
		{"cp of the host key under command=", `command="/usr/bin/date"`,
			[]string{"cp", "-P", d.Port(), "localhost:" + hostKey, filepath.Join(tmp, "stolen")}, 1, "no-file-transfer"},
		{"cp over authorized_keys under allow=", `allow="ls *"`,
			[]string{"cp", "-P", d.Port(), bashEnv, "localhost:" + filepath.Join(home, config.AuthorizedKeysFile)}, 1, "no-file-transfer"},
		{"a plain word under allow=", `allow="uptime"`,
			[]string{"run", d.host(), "--", "uptime"}, 0, ""},
		{"a shell string under allow=", `allow="uptime"`,
			[]string{"run", d.host(), "uptime; id"}, 255, "as separate words without shell syntax"},
		{"cp re-enabled by file-transfer", `command="/usr/bin/date",file-transfer`,
			[]string{"cp", "-P", d.Port(), "localhost:" + filepath.Join(home, config.KnownHostsFile), filepath.Join(tmp, "kh")}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setOptions(t, home, tt.opts)
			r := rexec(t, home, nil, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
				t.Fatalf("rexec %s = %d, stderr %q; want %d and %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.code, tt.stderr)
			}
			if tt.code != 0 && strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("want a one-line error, got %q", r.stderr)
			}
			if _, err := os.Stat(sentinel); err == nil {
				t.Fatal("a payload ran")
			}
			if _, err := os.Stat(filepath.Join(tmp, "stolen")); err == nil {
				t.Fatal("the host key was downloaded")
			}
			if b, _ := os.ReadFile(hostKey); string(b) != string(hostKeyBefore) {
				t.Fatal("the host key changed")
			}
		})
	}
}

// TestRevocationReachesOpenConnections: on one open connection a command
// runs; the key is removed and the daemon gets SIGHUP (and, separately,
// the file is only edited): the next request on that connection is
// refused within a second.
func TestRevocationReachesOpenConnections(t *testing.T) {
	for _, signal := range []bool{true, false} {
		t.Run("sighup="+strconv.FormatBool(signal), func(t *testing.T) {
			home := t.TempDir()
			d := startDaemon(t, home)
			cfg, target := clientFrom(t, d, "127.0.0.1")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := client.Dial(ctx, cfg, target)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			echo := protocol.Exec{Argv: []string{"true"}}
			if res, err := c.Run(ctx, echo, client.IO{}); err != nil || res.Exit.Code != 0 {
				t.Fatalf("before: %+v, %v", res, err)
			}
			other := t.TempDir()
			rexec(t, other, nil, "keygen")
			pub, _ := os.ReadFile(filepath.Join(other, "id_ed25519.pub"))
			replaceFile(t, filepath.Join(home, config.AuthorizedKeysFile), string(pub))
			if signal {
				d.Cmd.Process.Signal(syscall.SIGHUP)
			}
			start := time.Now()
			_, err = c.Run(ctx, echo, client.IO{})
			var re *protocol.RemoteError
			if !errors.As(err, &re) || re.Code != protocol.CodeRevoked || client.OutcomeOf(err) != outcome.AuthFailed {
				t.Fatalf("after revocation: %v; want the error revoked", err)
			}
			if elapsed := time.Since(start); elapsed > time.Second {
				t.Errorf("refused after %v, want within 1 s", elapsed)
			}
		})
	}
}

// TestUnsafeAuthorizedKeysOnReload: an authorized_keys rewritten 0664
// authorizes nothing after SIGHUP (one log line says why), and after
// chmod 600 the daemon serves again by itself.
func TestUnsafeAuthorizedKeysOnReload(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	keys := filepath.Join(home, config.AuthorizedKeysFile)
	if r := rexec(t, home, nil, "run", d.host(), "true"); r.code != 0 {
		t.Fatalf("before: %d %q", r.code, r.stderr)
	}
	b, _ := os.ReadFile(keys)
	replaceFile(t, keys, string(b))
	os.Chmod(keys, 0o664)
	d.Cmd.Process.Signal(syscall.SIGHUP)
	if r := rexec(t, home, nil, "run", d.host(), "true"); r.code != 255 || !strings.Contains(r.stderr, "not authorized") {
		t.Fatalf("with a 0664 authorized_keys: %d %q; want 255, not authorized", r.code, r.stderr)
	}
	d.WaitLog("no key of it is authorized until it is fixed", 10*time.Second)
	if n := strings.Count(d.Logs(), "no key of it is authorized until it is fixed"); n != 1 {
		t.Errorf("%d log lines about the unsafe file, want 1:\n%s", n, d.Logs())
	}
	os.Chmod(keys, 0o600)
	if r := rexec(t, home, nil, "run", d.host(), "true"); r.code != 0 {
		t.Fatalf("after chmod 600: %d %q", r.code, r.stderr)
	}
}

// TestAcceptEnvConfig: accept_env widens what a restricted key may set,
// but never to the names that change how programs load or shells start.
func TestAcceptEnvConfig(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home, "--accept-env", "DEPLOY_*", "--accept-env", "LD_PRELOAD")
	setOptions(t, home, `allow="/usr/bin/printenv DEPLOY_ENV"`)
	if r := rexec(t, home, nil, "run", "-e", "DEPLOY_ENV=prod", d.host(), "--", "/usr/bin/printenv", "DEPLOY_ENV"); r.code != 0 || r.stdout != "prod\n" {
		t.Errorf("an accepted variable: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := rexec(t, home, nil, "run", "-e", "LANG=C", d.host(), "--", "/usr/bin/printenv", "DEPLOY_ENV"); r.code != 255 || !strings.Contains(r.stderr, "LANG is not accepted") {
		t.Errorf("a default name no longer listed: %d %q", r.code, r.stderr)
	}
	if r := rexec(t, home, nil, "run", "-e", "LD_PRELOAD=/nonexistent.so", d.host(), "--", "/usr/bin/printenv", "DEPLOY_ENV"); r.code != 255 || !strings.Contains(r.stderr, "may not set LD_PRELOAD") {
		t.Errorf("LD_PRELOAD listed in accept_env: %d %q", r.code, r.stderr)
	}
}
