package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestSubcommandNames: every entry of subcommands is named as the command
// it builds answers (else Main, which builds only the command args[0]
// names, would build the wrong one or fall back to building all), no name
// is listed twice, and the tree built for each name holds that command
// alone, while the tree for no arguments holds all of them.
func TestSubcommandNames(t *testing.T) {
	env := Env{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	seen := map[string]bool{}
	for _, c := range subcommands(&globals{}, env) {
		if seen[c.name] {
			t.Errorf("%q listed twice", c.name)
		}
		seen[c.name] = true
		cmd := c.build()
		if cmd.Name() != c.name || len(cmd.Aliases) != 0 {
			t.Errorf("entry %q builds the command %q (aliases %q)", c.name, cmd.Name(), cmd.Aliases)
		}
		root := newRootFor(env, []string{c.name, "--help"})
		if got := root.Commands(); len(got) != 1 || got[0].Name() != c.name {
			t.Errorf("tree for %q holds %d commands", c.name, len(got))
		}
	}
	full := newRootFor(env, nil)
	if len(full.Commands()) != len(seen) {
		t.Errorf("the full tree holds %d commands, the table %d", len(full.Commands()), len(seen))
	}
	for _, args := range [][]string{{"--home", "/x", "run"}, {"help", "run"}, {"rnu"}} {
		if n := len(newRootFor(env, args).Commands()); n != len(seen) {
			t.Errorf("tree for %q holds %d commands, want all %d", args, n, len(seen))
		}
	}
}

// TestMainHelpAndSuggestions: with the tree built by the first argument,
// `rexec` alone still lists every command, a mistyped one still gets
// cobra's suggestion, and `rexec run --help` still shows run's flags.
func TestMainHelpAndSuggestions(t *testing.T) {
	cases := []struct {
		args        []string
		code        int
		out, errOut string
	}{
		{args: []string{"--help"}, code: 0, out: "sync"},
		{args: []string{"help"}, code: 0, out: "attach"},
		{args: []string{"rnu", "x"}, code: 2, errOut: `Did you mean this?`},
		{args: []string{"run", "--help"}, code: 0, out: "--no-stdin"},
		{args: []string{"cp", "--help"}, code: 0, out: "--recursive"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := Main(t.Context(), c.args, Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
		if code != c.code || !strings.Contains(out.String(), c.out) || !strings.Contains(errOut.String(), c.errOut) {
			t.Errorf("rexec %q: exit %d, stdout %q, stderr %q; want %d, %q, %q", c.args, code, out.String(), errOut.String(), c.code, c.out, c.errOut)
		}
	}
}

// TestCopyConnectionFlags: cp and sync take the same connection flags,
// spelled as scp spells them (-P PORT, --login without -l), and run takes
// ssh's (-p, -l).
func TestCopyConnectionFlags(t *testing.T) {
	env := Env{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	want := map[string]map[string]string{ // command -> flag -> shorthand
		"cp":   {"identity": "i", "port": "P", "login": "", "accept-new": "", "connect-timeout": ""},
		"sync": {"identity": "i", "port": "P", "login": "", "accept-new": "", "connect-timeout": ""},
		"run":  {"identity": "i", "port": "p", "login": "l", "accept-new": "", "connect-timeout": ""},
	}
	for name, flags := range want {
		cmd := newRootFor(env, []string{name}).Commands()[0]
		for flag, short := range flags {
			f := cmd.Flags().Lookup(flag)
			if f == nil || f.Shorthand != short {
				t.Errorf("rexec %s --%s: %v, want shorthand %q", name, flag, f, short)
			}
		}
	}
}
