package server

import (
	"slices"
	"strings"
	"testing"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// policyKeyB64 is any ed25519 key: FuzzPolicy needs a line to parse, not
// a key to use.
const policyKeyB64 = "AAAAC3NzaC1lZDI1NTE5AAAAIACxDCTm6btFG5scEJqUrol4vLUvkgI2VBdgklO5K1iO"

// FuzzPolicy checks the rule of docs/SECURITY.md over pairs of an
// authorized_keys option list and an exec request: whatever applyPolicy
// admits, a forced command runs nothing but itself, an allow= key runs
// only a matching argv, no-pty gets no terminal, and a restricted key
// keeps no working directory and only accepted client variables. The
// request's argv and env are NUL-separated lists ("K=V" entries).
func FuzzPolicy(f *testing.F) {
	seeds := []struct{ opts, command, argv, env, cwd string }{
		{`restrict,command="/usr/bin/date"`, "x", "", "BASH_ENV=/tmp/e", ""},
		{`allow="ls *"`, "", "ls\x00/", "PATH=/tmp/evil", ""},
		{`allow="/usr/bin/id"`, "", "/usr/bin/id", "LD_PRELOAD=/tmp/e.so", ""},
		{`allow="tail -n 5 /var/log/*"`, "", "tail\x00-n\x005\x00/var/log/../../etc/shadow", "", ""},
		{`allow="uptime"`, "uptime", "", "LANG=C", ""},
		{`no-pty`, "tty", "", "", "/tmp"},
		{`restrict,pty`, "", "", "LC_ALL=/tmp/x", ""},
		{`environment="A=1",allow="env"`, "env", "", "A=2", ""},
		{"", "anything", "", "LD_PRELOAD=x", "/"},
	}
	for _, s := range seeds {
		f.Add(s.opts, s.command, s.argv, s.env, s.cwd, false)
	}
	f.Fuzz(func(t *testing.T, opts, command, argv, env, cwd string, pty bool) {
		keys, _ := auth.ParseAuthorizedKeys([]byte(opts + " ssh-ed25519 " + policyKeyB64 + "\n"))
		if len(keys.Keys) != 1 {
			return // not a valid line: authorizes nobody
		}
		o := keys.Keys[0].Options
		req := protocol.Exec{Command: command, Cwd: cwd, PTY: pty, Env: map[string]string{}}
		if argv != "" {
			req.Argv = strings.Split(argv, "\x00")
		}
		for _, kv := range strings.Split(env, "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
				req.Env[k] = v
			}
		}
		out, denied := applyPolicy(&o, req, DefaultAcceptEnv)
		if denied != "" {
			return
		}
		checkAdmitted(t, &o, req, out)
	})
}

// checkAdmitted holds an admitted request to the rule.
func checkAdmitted(t *testing.T, o *auth.KeyOptions, in, out protocol.Exec) {
	t.Helper()
	switch {
	case o.NoPTY && out.PTY:
		t.Fatalf("no-pty key got a terminal: %+v", out)
	case o.HasCommand && (out.Command != o.Command || out.Argv != nil):
		t.Fatalf("forced command %q, but runs %q %q", o.Command, out.Command, out.Argv)
	case !o.HasCommand && len(o.Allow) > 0 && (out.Command != "" || len(out.Argv) == 0 || !o.AllowsArgv(out.Argv)):
		t.Fatalf("allow=%q admitted %q %q", o.Allow, out.Command, out.Argv)
	}
	if !o.Restricted() {
		return
	}
	if out.Cwd != "" {
		t.Fatalf("restricted key keeps the working directory %q", out.Cwd)
	}
	for k, v := range out.Env {
		fromLine := slices.Contains(o.Environment, k+"="+v)
		original := k == OriginalCommandVar && o.HasCommand
		accepted := in.Env[k] == v && matchesAny(DefaultAcceptEnv, k) && (!matchesAny(neverAccepted, k) || neverAcceptedExcept[k])
		if !fromLine && !original && !accepted {
			t.Fatalf("restricted key sets %s=%q", k, v)
		}
	}
}
