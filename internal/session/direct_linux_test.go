package session

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDirectCommandDecision(t *testing.T) {
	dir := t.TempDir()
	noShebang := filepath.Join(dir, "noshebang")
	if err := os.WriteFile(noShebang, []byte("echo from a shell script\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	withShebang := filepath.Join(dir, "shebang")
	if err := os.WriteFile(withShebang, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root"}
	tests := []struct {
		command string
		shell   string
		env     []string
		want    []string // nil: the shell must run it
	}{
		{"uname -a", "/bin/bash", env, []string{"uname", "-a"}},
		{"  uname\t-s  ", "/bin/bash", env, []string{"uname", "-s"}},
		{"true", "/bin/bash", env, []string{"true"}},
		{"false", "/bin/sh", env, []string{"false"}},
		{"/bin/ls -l /tmp", "/bin/bash", env, []string{"/bin/ls", "-l", "/tmp"}},
		{"dd if=/dev/zero count=1", "/bin/bash", env, []string{"dd", "if=/dev/zero", "count=1"}},
		{withShebang, "/bin/bash", env, []string{withShebang}},
		{"true x", "/bin/bash", env, nil},
		{"echo hi", "/bin/bash", env, nil},
		{"cd /tmp", "/bin/bash", env, nil},
		{"exit 3", "/bin/bash", env, nil},
		{"time ls", "/bin/bash", env, nil},
		{"ls *", "/bin/bash", env, nil},
		{"ls ~", "/bin/bash", env, nil},
		{"ls $HOME", "/bin/bash", env, nil},
		{"ls;id", "/bin/bash", env, nil},
		{"ls\nid", "/bin/bash", env, nil},
		{"ls > x", "/bin/bash", env, nil},
		{"ls | wc", "/bin/bash", env, nil},
		{"'ls'", "/bin/bash", env, nil},
		{`l\s`, "/bin/bash", env, nil},
		{"ls # comment", "/bin/bash", env, nil},
		{"A=b env", "/bin/bash", env, nil},
		{"ls {a,b}", "/bin/bash", env, nil},
		{"   ", "/bin/bash", env, nil},
		{"no-such-program-rexec", "/bin/bash", env, nil},
		{noShebang, "/bin/bash", env, nil},
		{"uname", "/usr/bin/zsh", env, nil},
		{"uname", "/nonexistent/shell", env, nil},
		{"uname", "/bin/bash", append(slices.Clone(env), "BASH_ENV=/tmp/x"), nil},
		{"uname", "/bin/bash", append(slices.Clone(env), "SSH_CLIENT=1 2 3"), nil},
		{"uname", "/bin/bash", append(slices.Clone(env), "PWD=/"), nil},
		{"uname", "/bin/bash", append(slices.Clone(env), "SHLVL=007"), nil},
		{"uname", "/bin/bash", append(slices.Clone(env), "SHLVL=2"), []string{"uname"}},
		{"uname", "/bin/bash", []string{"PATH=bin:/usr/bin:/bin"}, nil},
		{"uname", "/bin/bash", []string{"PATH=:/usr/bin:/bin"}, nil},
	}
	for _, tt := range tests {
		_, argv, _, ok := directCommand(tt.command, tt.shell, tt.env, dir)
		if tt.want == nil {
			if ok {
				t.Errorf("directCommand(%q, %s, %q) = %q, want the shell", tt.command, tt.shell, tt.env, argv)
			}
			continue
		}
		if !ok || !slices.Equal(argv, tt.want) {
			t.Errorf("directCommand(%q, %s, %q) = %q, %v; want %q", tt.command, tt.shell, tt.env, argv, ok, tt.want)
		}
	}
}

// The direct path must be indistinguishable from the shell: the program
// sees the same environment (PWD, SHLVL, _ included) and arguments as when
// the login shell runs the same string.
func TestDirectCommandMatchesShell(t *testing.T) {
	shell := currentAccount().shell
	if shellKind(shell) == "" {
		t.Skipf("login shell %s is neither bash nor dash: the direct path is never taken", shell)
	}
	dir := t.TempDir()
	for _, extra := range [][]string{nil, {"SHLVL=4"}} {
		for _, cmd := range []string{"env", "/usr/bin/env", "printenv PWD SHLVL _ HOME"} {
			spec := Spec{Command: cmd, Dir: dir, Env: extra}
			env := mergeEnv(baseEnv(currentAccount(), nil), extra...)
			if _, _, _, ok := directCommand(cmd, shell, env, dir); !ok {
				t.Fatalf("%q with %q: direct path not taken", cmd, extra)
			}
			direct := run(t, spec, "")
			viaShell := run(t, Spec{Argv: []string{shell, "-c", cmd + " # comment forces the shell"}, Dir: dir, Env: extra}, "")
			if direct.status.Code != 0 || viaShell.status.Code != 0 {
				t.Fatalf("%q: exit %d direct, %d via shell; stderr %q / %q", cmd, direct.status.Code, viaShell.status.Code, direct.stderr, viaShell.stderr)
			}
			if got, want := envLines(direct.stdout), envLines(viaShell.stdout); !slices.Equal(got, want) {
				t.Errorf("%q with %q:\ndirect    %q\nvia shell %q", cmd, extra, got, want)
			}
		}
	}
}

// envLines sorts output lines and drops the session marker, which differs
// between any two sessions.
func envLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, MarkerVar+"=") {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	return lines
}
