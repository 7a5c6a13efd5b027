package cli

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIsDevNull: only the null device itself counts; an empty file, a
// pipe, another character device and a reader that is not a file do not.
func TestIsDevNull(t *testing.T) {
	open := func(path string) *os.File {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	cases := []struct {
		name string
		r    io.Reader
		want bool
	}{
		{"/dev/null", open(os.DevNull), true},
		{"empty file", open(empty), false},
		{"/dev/zero", open("/dev/zero"), false},
		{"pipe", pr, false},
		{"strings.Reader", strings.NewReader(""), false},
		{"nil file", (*os.File)(nil), false},
	}
	for _, c := range cases {
		if got := isDevNull(c.r); got != c.want {
			t.Errorf("%s: isDevNull = %v, want %v", c.name, got, c.want)
		}
	}
}
