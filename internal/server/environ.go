package server

import (
	"fmt"
	"path"
	"strings"
)

// DefaultAcceptEnv is Config.AcceptEnv when nil: the client variables a
// restricted key may set, as sshd's AcceptEnv is usually configured —
// locale and terminal settings, and git's protocol version, none of which
// runs or loads anything.
var DefaultAcceptEnv = []string{"LANG", "LC_*", "TERM", "COLORTERM", "NO_COLOR", "GIT_PROTOCOL"}

// neverAccepted are the variables a restricted key may never set, even
// when accept_env lists them: each one changes which program runs, what a
// program loads, or what a shell does before or instead of the command.
// docs/SECURITY.md ("Client environment") gives the reason for each group;
// keep the two lists together.
var neverAccepted = []string{
	// The dynamic loader and the C library: preload a library, choose
	// where libraries, gconv modules, locales and tunables come from.
	"LD_*", "DYLD_*", "GCONV_PATH", "GLIBC_TUNABLES", "MALLOC_*", "LOCPATH", "NLSPATH",
	"HOSTALIASES", "RES_OPTIONS", "LOCALDOMAIN", "TZDIR",
	// Shell start-up and behaviour: files sourced, functions imported,
	// options, prompts and traces that expand commands, word splitting,
	// where programs and directories are looked up.
	"BASH_ENV", "ENV", "BASH_FUNC_*", "SHELLOPTS", "BASHOPTS", "PS0", "PS1", "PS2", "PS3", "PS4",
	"PROMPT_COMMAND", "IFS", "CDPATH", "GLOBIGNORE", "EXECIGNORE", "FPATH", "ZDOTDIR", "INPUTRC",
	"HISTFILE", "BASH_XTRACEFD", "BASH_LOADABLES_PATH", "PATH", "HOME", "SHELL", "TMOUT",
	// Interpreters' start-up files, module paths and options.
	"PYTHON*", "PERL*", "RUBY*", "NODE_*", "LUA_*", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS",
	"JDK_JAVA_OPTIONS", "CLASSPATH", "TCLLIBPATH", "PHPRC", "PHP_INI_SCAN_DIR", "R_PROFILE*", "R_ENVIRON*",
	// Programs that other programs start on the user's behalf, and the
	// configuration that names them.
	"EDITOR", "VISUAL", "PAGER", "MANPAGER", "SYSTEMD_PAGER", "LESSOPEN", "LESSCLOSE", "LESSKEY*",
	"BROWSER", "SSH_ASKPASS*", "SUDO_ASKPASS", "GIT_*", "XDG_*", "OPENSSL_CONF", "OPENSSL_ENGINES",
	"OPENSSL_MODULES", "TERMINFO", "TERMINFO_DIRS", "TMPDIR",
	// What the server sets itself.
	"REXEC_*", "SSH_*", "USER", "LOGNAME", "MAIL", "PWD", "OLDPWD", "SHLVL",
}

// neverAcceptedExcept are names a pattern of neverAccepted covers that are
// safe and wanted: GIT_PROTOCOL only selects git's wire protocol version.
var neverAcceptedExcept = map[string]bool{"GIT_PROTOCOL": true}

// localeVars take a locale name; a value with '/' is a path from which the
// C library would load locale data.
var localeVars = []string{"LANG", "LANGUAGE", "LC_*"}

// checkClientEnv applies the environment rule of a restricted key: every
// variable the client set must be accepted (accept) and not in
// neverAccepted. It returns a denial naming the first variable refused
// and why, or "".
func checkClientEnv(env map[string]string, accept []string) string {
	for _, k := range sortedKeys(env) {
		if reason := envRefusal(k, env[k], accept); reason != "" {
			return reason
		}
	}
	return ""
}

// envRefusal is why the accept list refuses K=V, or "".
func envRefusal(k, v string, accept []string) string {
	switch {
	case matchesAny(neverAccepted, k) && !neverAcceptedExcept[k]:
		return fmt.Sprintf("accept_env: this key may not set %s: it changes which program runs or "+
			"how programs load or shells start (drop -e %s)", k, k)
	case !matchesAny(accept, k):
		return fmt.Sprintf("accept_env: this key may set only %s; %s is not accepted (drop -e %s)",
			strings.Join(accept, ", "), k, k)
	case matchesAny(localeVars, k) && strings.Contains(v, "/"):
		return fmt.Sprintf("accept_env: %s must name a locale, not a path", k)
	}
	return ""
}

// withSendEnv adds to env the variables of send (exec.send_env: ssh's
// SendEnv and SetEnv) that the accept list admits, for any key, as sshd's
// AcceptEnv does: the others are dropped without a word, and a name env
// sets already keeps env's value. env is not modified; the result is a
// new map when anything was added.
func withSendEnv(env, send map[string]string, accept []string) map[string]string {
	var out map[string]string
	for _, k := range sortedKeys(send) {
		if _, set := env[k]; set || envRefusal(k, send[k], accept) != "" {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(env)+len(send))
			for ek, ev := range env {
				out[ek] = ev
			}
		}
		out[k] = send[k]
	}
	if out == nil {
		return env
	}
	return out
}

// matchesAny reports whether name matches one of the shell-style patterns
// ('*' and '?', as sshd's AcceptEnv).
func matchesAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// CheckAcceptEnv validates accept_env patterns (config), so a typo fails
// at start rather than refusing every variable.
func CheckAcceptEnv(patterns []string) error {
	for _, p := range patterns {
		if p == "" || strings.ContainsAny(p, "=/\x00[]\\") {
			return fmt.Errorf("accept_env: invalid pattern %q (names with * and ? only)", p)
		}
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("accept_env: invalid pattern %q: %w", p, err)
		}
	}
	return nil
}
