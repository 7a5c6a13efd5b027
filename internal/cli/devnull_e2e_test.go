package cli_test

import (
	"io"
	"os"
	"strings"
	"testing"
)

// TestRunStdinDevNull: a client whose stdin is /dev/null gives the remote
// command an empty input, ended, as -n does and as a pipe with nothing in
// it does: `wc -c` counts 0 and `cat` ends.
func TestRunStdinDevNull(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	null := func() io.Reader {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	for _, c := range []struct {
		name string
		in   io.Reader
		args []string
		want string
	}{
		{"wc from /dev/null", null(), []string{"--", "wc", "-c"}, "0\n"},
		{"cat from /dev/null", null(), []string{"--", "cat"}, ""},
		{"wc with -n", strings.NewReader("ignored"), []string{"-n", "--", "wc", "-c"}, "0\n"},
		{"wc from an empty pipe", strings.NewReader(""), []string{"--", "wc", "-c"}, "0\n"},
		{"wc from a file", strings.NewReader("abc"), []string{"--", "wc", "-c"}, "3\n"},
	} {
		args := append([]string{"run", d.host()}, c.args...)
		if c.args[0] == "-n" {
			args = append([]string{"run", "-n", d.host()}, c.args[1:]...)
		}
		if r := rexec(t, home, c.in, args...); r.code != 0 || r.stdout != c.want {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0, %q", c.name, r.code, r.stdout, r.stderr, c.want)
		}
	}
}
