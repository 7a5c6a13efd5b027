package transfer

import (
	"errors"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

var nameTests = []struct {
	name string
	ok   bool
}{
	{"a", true},
	{"a/b/c", true},
	{".hidden", true},
	{"..x", true},
	{"x..", true},
	{"a b/ü/日本", true},
	{strings.Repeat("x", 255), true},
	{strings.Repeat("x/", 2047) + "x", true}, // 4095 bytes
	{"", false},
	{".", false},
	{"..", false},
	{"../x", false},
	{"a/../../x", false},
	{"a/..", false},
	{"./a", false},
	{"a/./b", false},
	{"/abs", false},
	{"//abs", false},
	{"a//b", false},
	{"a/", false},
	{"a\x00b", false},
	{"\xff\xfe", false},
	{strings.Repeat("x", 256), false},
	{strings.Repeat("x/", 2048) + "x", false}, // 4097 bytes
	{".f.rexec-part-0123456789abcdef", false},
	{"d/.f.rexec-link-0011223344556677", false},
}

func TestCheckName(t *testing.T) {
	for _, tt := range nameTests {
		err := CheckName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("CheckName(%.40q) = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBadName) {
			t.Errorf("CheckName(%.40q) = %v, want ErrBadName", tt.name, err)
		}
	}
}

// FuzzCheckName checks the validator's promise: whatever it accepts is a
// clean, local, bounded name, on any platform's path rules.
func FuzzCheckName(f *testing.F) {
	for _, tt := range nameTests {
		f.Add(tt.name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if CheckName(name) != nil {
			return
		}
		switch {
		case path.Clean(name) != name, path.IsAbs(name), !filepath.IsLocal(name):
			t.Fatalf("CheckName accepted %q, which is not clean and local", name)
		case len(name) > MaxName, strings.ContainsRune(name, 0):
			t.Fatalf("CheckName accepted %q, which is too long or has NUL", name)
		}
		for c := range strings.SplitSeq(name, "/") {
			if c == ".." || c == "." || c == "" || len(c) > MaxComponent || isTempName(c) {
				t.Fatalf("CheckName accepted %q with component %q", name, c)
			}
		}
	})
}

func TestPartName(t *testing.T) {
	a := PartName("file", 100, 7)
	if a != PartName("file", 100, 7) {
		t.Errorf("PartName is not stable")
	}
	for _, other := range []string{PartName("file", 101, 7), PartName("file", 100, 8), PartName("filf", 100, 7)} {
		if other == a {
			t.Errorf("PartName(%q) collides for another version or name", other)
		}
	}
	if !IsPartName(a) || !strings.HasPrefix(a, ".file.rexec-part-") {
		t.Errorf("PartName = %q, want .file.rexec-part-KEY recognised by IsPartName", a)
	}
	long := PartName(strings.Repeat("é", 200), 1, 1)
	if len(long) > MaxComponent || !IsPartName(long) {
		t.Errorf("PartName of a 400-byte name = %d bytes, IsPartName %v; want <= %d and true",
			len(long), IsPartName(long), MaxComponent)
	}
	if CheckName(a) == nil {
		t.Errorf("CheckName accepts the partial name %q; the peer could pre-empt it", a)
	}
	for _, s := range []string{"file", ".file.rexec-part-xyz", ".file.rexec-part-0123456789abcdeg", "f.rexec-part-0123456789abcdef"} {
		if IsPartName(s) {
			t.Errorf("IsPartName(%q) = true", s)
		}
	}
}
