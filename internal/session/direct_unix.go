//go:build linux || darwin

package session

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// A shell string is normally run as `$SHELL -c STRING`. When the string is
// one simple command made only of plain words (`uname -a`, `systemctl
// restart nginx`, `true`), bash and dash do nothing but look the program up
// in PATH and exec it in place of themselves, so running the program
// directly gives the same process, arguments, environment and exit status,
// and saves the shell's start-up, most of the server's cost of a short
// command (docs/BENCHMARKS.md). directCommand decides
// when that holds; anything it is not sure of goes to the shell.

// shellOnly lists bash's (and so dash's) builtins and reserved words: as a
// command name these never reach PATH, so they must run in the shell.
// `true` and `false` are builtins too, but with no argument the programs
// of the same name do exactly what the builtins do.
var shellOnly = map[string]bool{
	".": true, ":": true, "[": true, "alias": true, "bg": true, "bind": true, "break": true,
	"builtin": true, "caller": true, "cd": true, "command": true, "compgen": true, "complete": true,
	"compopt": true, "continue": true, "declare": true, "dirs": true, "disown": true, "echo": true,
	"enable": true, "eval": true, "exec": true, "exit": true, "export": true, "false": true, "fc": true,
	"fg": true, "getopts": true, "hash": true, "help": true, "history": true, "jobs": true, "kill": true,
	"let": true, "local": true, "logout": true, "mapfile": true, "popd": true, "printf": true,
	"pushd": true, "pwd": true, "read": true, "readarray": true, "readonly": true, "return": true,
	"set": true, "shift": true, "shopt": true, "source": true, "suspend": true, "test": true,
	"times": true, "trap": true, "true": true, "type": true, "typeset": true, "ulimit": true,
	"umask": true, "unalias": true, "unset": true, "wait": true,
	"!": true, "[[": true, "]]": true, "case": true, "coproc": true, "do": true, "done": true,
	"elif": true, "else": true, "esac": true, "fi": true, "for": true, "function": true, "if": true,
	"in": true, "select": true, "then": true, "time": true, "until": true, "while": true,
	"{": true, "}": true,
}

// shellEnvVars make a non-interactive shell read a start-up file (bash:
// BASH_ENV, and Debian's bash reads ~/.bashrc when SSH_CLIENT or
// SSH2_CLIENT is set); PWD and OLDPWD set by the client would be
// interpreted by the shell. With any of them the shell runs.
var shellEnvVars = []string{"BASH_ENV", "ENV", "SSH_CLIENT", "SSH2_CLIENT", "PWD", "OLDPWD"}

// directCommand returns the program, argv and environment that `shell -c
// command` would exec, when it would exec one program and nothing else;
// ok is false when the shell must run (see the comment at the top).
// dir is the session's working directory, env its environment.
func directCommand(command, shell string, env []string, dir string) (path string, argv, outEnv []string, ok bool) {
	kind := shellKind(shell)
	if kind == "" {
		return "", nil, nil, false
	}
	for _, k := range shellEnvVars {
		if _, set := lookupEnv(env, k); set {
			return "", nil, nil, false
		}
	}
	shlvl, shlvlSet := lookupEnv(env, "SHLVL")
	if shlvlSet && !plainShellLevel(shlvl) {
		return "", nil, nil, false // bash would rewrite it
	}
	for _, d := range filepath.SplitList(envValue(env, "PATH")) {
		if !filepath.IsAbs(d) {
			return "", nil, nil, false // the shell searches it from the session's directory
		}
	}
	argv, ok = PlainWords(command)
	if !ok || strings.IndexByte(argv[0], '=') >= 0 ||
		(shellOnly[argv[0]] && !((argv[0] == "true" || argv[0] == "false") && len(argv) == 1)) {
		return "", nil, nil, false
	}
	path, err := lookPath(argv[0], envValue(env, "PATH"))
	if err != nil || !execsDirectly(path) {
		return "", nil, nil, false // the shell's own message, or a script it would run itself
	}
	// What the shell adds to the environment of the program it execs:
	// both set PWD (the physical directory, from getcwd); bash also sets
	// `_` to the program's path and SHLVL to 0 if it was unset (it counts
	// itself, then uncounts itself as it execs).
	pwd, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", nil, nil, false
	}
	extra := []string{"PWD=" + pwd}
	if kind == "bash" {
		if !shlvlSet {
			extra = append(extra, "SHLVL=0")
		}
		extra = append(extra, "_="+path)
	}
	return path, argv, mergeEnv(env, extra...), true
}

// plainShellLevel reports a SHLVL that bash leaves as it is when it
// counts itself and uncounts itself on exec: a decimal number without
// leading zeros, below the 1000 at which bash resets the level to 1.
func plainShellLevel(v string) bool {
	if v == "" || len(v) > 3 || (len(v) > 1 && v[0] == '0') {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return v != "999"
}

// execsDirectly reports a file that execve runs itself: an ELF binary or
// a script with a #! line. For anything else execve fails with ENOEXEC
// and the shell would run the file as a shell script.
func execsDirectly(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var head [4]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return false
	}
	return bytes.Equal(head[:], []byte("\x7fELF")) || bytes.HasPrefix(head[:], []byte("#!"))
}

// shellKinds caches shellKind per login shell path.
var shellKinds sync.Map // string -> string

// shellKind says which shell a path is, "bash" or "dash", following
// symlinks (/bin/sh is dash on Debian, bash elsewhere); "" for any other
// shell, whose start-up may differ (zsh reads ~/.zshenv even for -c).
func shellKind(shell string) string {
	if k, ok := shellKinds.Load(shell); ok {
		return k.(string)
	}
	kind := ""
	if real, err := filepath.EvalSymlinks(shell); err == nil {
		switch filepath.Base(real) {
		case "bash", "dash":
			kind = filepath.Base(real)
		}
	}
	shellKinds.Store(shell, kind)
	return kind
}
