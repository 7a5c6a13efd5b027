package server

import (
	"fmt"
	"strings"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// OriginalCommandVar carries the command the client asked for when the
// key's authorized_keys line forces another (command="..."), like OpenSSH's
// SSH_ORIGINAL_COMMAND.
const OriginalCommandVar = "REXEC_ORIGINAL_COMMAND"

// applyPolicy applies the key's authorized_keys options (SPEC §4) to an
// exec request. It returns the request to run, or a non-empty reason why
// it is denied; the reason names the rule, for the client and the audit
// log. The order is sshd's: no-pty first, then the forced command (which
// replaces whatever was asked, so allow= does not apply to it), then the
// allow-list; environment= always wins over the client's env.
func applyPolicy(o *auth.KeyOptions, req protocol.Exec) (protocol.Exec, string) {
	if o.NoPTY && req.PTY {
		return req, "no-pty: this key may not request a terminal (retry without -t)"
	}
	switch {
	case o.HasCommand:
		original := originalCommand(req)
		req.Command, req.Argv = o.Command, nil
		if original != "" {
			req.Env = withEnv(req.Env, OriginalCommandVar+"="+original)
		}
	case len(o.Allow) > 0:
		if reason := checkAllow(o, req); reason != "" {
			return req, reason
		}
	}
	for _, kv := range o.Environment {
		req.Env = withEnv(req.Env, kv)
	}
	return req, ""
}

// checkAllow admits only an argv matching one of the allow= globs: a shell
// string or a login shell could run anything.
func checkAllow(o *auth.KeyOptions, req protocol.Exec) string {
	switch {
	case req.Command != "":
		return "allow=: this key may run listed programs only, not shell strings (send an argv: rexec run HOST -- PROG ARGS)"
	case len(req.Argv) == 0:
		return "allow=: this key may run listed programs only, not a login shell"
	case !o.AllowsArgv(req.Argv):
		return fmt.Sprintf("allow=: %q matches no allowed pattern for this key", strings.Join(req.Argv, " "))
	}
	return ""
}

// originalCommand is what the client asked for, as one string: the shell
// string, or the argv quoted so a shell would split it back the same way.
func originalCommand(req protocol.Exec) string {
	if req.Command != "" || len(req.Argv) == 0 {
		return req.Command
	}
	words := make([]string, len(req.Argv))
	for i, a := range req.Argv {
		words[i] = shellQuote(a)
	}
	return strings.Join(words, " ")
}

// shellQuote quotes s for a POSIX shell unless it is plainly safe.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// withEnv returns env (copied) with K=V set.
func withEnv(env map[string]string, kv string) map[string]string {
	k, v, _ := strings.Cut(kv, "=")
	out := make(map[string]string, len(env)+1)
	for ek, ev := range env {
		out[ek] = ev
	}
	out[k] = v
	return out
}
