package server

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/session"
)

// OriginalCommandVar carries the command the client asked for when the
// key's authorized_keys line forces another (command="..."), like OpenSSH's
// SSH_ORIGINAL_COMMAND.
const OriginalCommandVar = "REXEC_ORIGINAL_COMMAND"

// applyPolicy applies the key's authorized_keys options to an exec
// request (docs/SECURITY.md, "The rule"). It returns the request to run,
// or a non-empty reason why it is denied; the reason starts with the rule
// that refused it ("no-pty:", "accept_env:", ...), for the client and the
// audit log, and says what to send instead. The order is sshd's: no-pty
// first; then, for a restricted key, what the client sends besides the
// command (its environment and working directory); then the forced
// command, which replaces whatever was asked (so allow= does not apply to
// it), or the allow-list; environment= always wins over the client's env.
func applyPolicy(o *auth.KeyOptions, req protocol.Exec, acceptEnv []string) (protocol.Exec, string) {
	if o.NoPTY && req.PTY {
		return req, "no-pty: this key may not request a terminal (retry without -t)"
	}
	if o.Restricted() {
		if req.Cwd != "" {
			return req, "cwd: this key is restricted and may not choose a working directory (drop -C)"
		}
		if reason := checkClientEnv(req.Env, acceptEnv); reason != "" {
			return req, reason
		}
	}
	req.Env, req.SendEnv = withSendEnv(req.Env, req.SendEnv, acceptEnv), nil
	switch {
	case req.Subsystem != "":
		var reason string
		if req, reason = subsystemPolicy(o, req); reason != "" {
			return req, reason
		}
	case o.HasCommand:
		original := originalCommand(req)
		req.Command, req.Argv = o.Command, nil
		if original != "" {
			req.Env = withEnv(req.Env, OriginalCommandVar+"="+original)
		}
	case len(o.Allow) > 0:
		var reason string
		if req, reason = checkAllow(o, req); reason != "" {
			return req, reason
		}
	}
	for _, kv := range o.Environment {
		req.Env = withEnv(req.Env, kv)
	}
	return req, ""
}

// checkAllow admits only an argv matching one of the allow= globs: a shell
// string or a login shell could run anything. A string of plain words
// (`rexec run HOST -- uptime` sends one) is the argv it splits into, and
// runs as that argv, without a shell.
func checkAllow(o *auth.KeyOptions, req protocol.Exec) (protocol.Exec, string) {
	if req.Command != "" {
		words, ok := session.PlainWords(req.Command)
		if !ok {
			return req, "allow=: this key runs listed programs only, not shell strings: send the program and " +
				"its arguments as separate words without shell syntax (rexec run HOST -- PROG ARG...)"
		}
		req.Command, req.Argv = "", words
	}
	switch {
	case len(req.Argv) == 0:
		return req, "allow=: this key runs listed programs only, not a login shell (rexec run HOST -- PROG ARG...)"
	case !o.AllowsArgv(req.Argv):
		return req, fmt.Sprintf("allow=: %s matches no pattern allowed for this key", quoteArgv(req.Argv))
	}
	return req, ""
}

// quoteArgv shows an argv as a shell would need it typed, with control
// characters escaped, for a denial message.
func quoteArgv(argv []string) string {
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = shellQuote(a)
		if strings.ContainsFunc(a, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			words[i] = strconv.Quote(a)
		}
	}
	return strings.Join(words, " ")
}

// sortedKeys returns m's keys in order, so checks and records are
// deterministic.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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
