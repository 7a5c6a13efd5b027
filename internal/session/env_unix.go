//go:build linux || darwin

package session

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// passwdFile is where the daemon user's login shell is read from.
const passwdFile = "/etc/passwd"

// defaultPath is PATH when the daemon itself has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// fallbackShell is SHELL when /etc/passwd gives none.
const fallbackShell = "/bin/sh"

// account is what a session needs to know about the daemon's user.
type account struct {
	name, home, shell string
}

// currentAccount describes the daemon's user: /etc/passwd first, then
// os/user and the daemon's own environment, with /bin/sh as last resort.
func currentAccount() account {
	a, err := lookupPasswd(passwdFile, os.Getuid())
	if err != nil {
		a = account{}
	}
	if a.name == "" || a.home == "" {
		if u, err := user.Current(); err == nil {
			a.name, a.home = firstNonEmpty(a.name, u.Username), firstNonEmpty(a.home, u.HomeDir)
		}
	}
	a.home = firstNonEmpty(a.home, os.Getenv("HOME"), "/")
	a.shell = firstNonEmpty(a.shell, fallbackShell)
	return a
}

// lookupPasswd finds uid in a passwd(5) file.
func lookupPasswd(path string, uid int) (account, error) {
	f, err := os.Open(path)
	if err != nil {
		return account{}, fmt.Errorf("session: reading passwd: %w", err)
	}
	defer f.Close()
	return parsePasswd(f, uid)
}

// parsePasswd returns the entry for uid from passwd(5) text.
func parsePasswd(r io.Reader, uid int) (account, error) {
	want := strconv.Itoa(uid)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) != 7 || f[2] != want {
			continue
		}
		return account{name: f[0], home: f[5], shell: f[6]}, nil
	}
	if err := sc.Err(); err != nil {
		return account{}, fmt.Errorf("session: reading passwd: %w", err)
	}
	return account{}, fmt.Errorf("session: uid %d not in passwd", uid)
}

// baseEnv is the environment every session starts from: HOME, USER,
// LOGNAME, SHELL, PATH (the daemon's, else defaultPath), the daemon's LANG,
// LANGUAGE and LC_*, and TERM for a PTY.
func baseEnv(a account, pty *PTYSpec) []string {
	env := []string{
		"HOME=" + a.home, "USER=" + a.name, "LOGNAME=" + a.name,
		"SHELL=" + a.shell, "PATH=" + firstNonEmpty(os.Getenv("PATH"), defaultPath),
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "LANG=") || strings.HasPrefix(kv, "LANGUAGE=") ||
			strings.HasPrefix(kv, "LC_") {
			env = append(env, kv)
		}
	}
	if pty != nil {
		env = append(env, "TERM="+firstNonEmpty(pty.Term, DefaultTerm))
	}
	return env
}

// userEnv is the environment a session of another account starts from,
// built from scratch as login(1) and sshd build it: nothing of the
// daemon's own environment reaches the account.
func userEnv(u *User, pty *PTYSpec) []string {
	env := []string{
		"HOME=" + u.Home, "USER=" + u.Name, "LOGNAME=" + u.Name,
		"SHELL=" + firstNonEmpty(u.Shell, fallbackShell), "PATH=" + firstNonEmpty(u.Path, defaultPath),
		"MAIL=/var/mail/" + u.Name,
	}
	if pty != nil {
		env = append(env, "TERM="+firstNonEmpty(pty.Term, DefaultTerm))
	}
	return env
}

// commandLine turns a Spec into the program path, argv and environment to
// execute in dir, resolving a bare Argv[0] in the session's PATH (not the
// daemon's). A shell string that is one plain command runs without the
// shell when that makes no difference (directCommand).
func commandLine(spec Spec, a account, env []string, dir string) (path string, argv, outEnv []string, err error) {
	switch {
	case len(spec.Argv) > 0:
		argv = spec.Argv
	case spec.Command != "" && spec.PTY == nil:
		if path, argv, outEnv, ok := directCommand(spec.Command, a.shell, env, dir); ok {
			return path, argv, outEnv, nil
		}
		argv = []string{a.shell, "-c", spec.Command}
	case spec.Command != "":
		argv = []string{a.shell, "-c", spec.Command}
	case spec.Login:
		path, argv = a.shell, []string{"-" + filepath.Base(a.shell)}
		return path, argv, env, nil
	default:
		return "", nil, nil, ErrEmptyCommand
	}
	path, err = lookPath(argv[0], envValue(env, "PATH"))
	return path, argv, env, err
}

// errNotFound is wrapped when a program is not in PATH.
var errNotFound = errors.New("executable file not found in PATH")

// lookPath resolves file like a shell would, against pathList. A name with
// a slash is used as is (relative to the session's Dir). Empty or relative
// PATH entries are skipped: the daemon's cwd is not the session's.
func lookPath(file, pathList string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	for _, dir := range filepath.SplitList(pathList) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, file)
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("session: %q: %w", file, errNotFound)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// envValue returns the value of the last K=V entry for key.
func envValue(env []string, key string) string {
	v, _ := lookupEnv(env, key)
	return v
}

// lookupEnv finds key in env (last entry wins, as in mergeEnv) and says
// whether it is set at all.
func lookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}
