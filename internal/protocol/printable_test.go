package protocol

import (
	"testing"
	"unicode/utf8"
)

var printableTests = []struct{ in, want string }{
	{"", ""},
	{"report.txt", "report.txt"},
	{"dir/été/日本.txt", "dir/été/日本.txt"},
	{`back\slash "quoted"`, `back\slash "quoted"`},
	{"\x1b[2J\x1b]0;owned\x07", `\x1b[2J\x1b]0;owned\x07`},
	{"a\nb\tc\rd", `a\x0ab\x09c\x0dd`},
	{"\x00nul", `\x00nul`},
	{"del\x7f", `del\x7f`},
	{"c1 \u009b31m csi", `c1 \u009b31m csi`},
	{"nel\u0085", `nel\u0085`},
	{"\u00a0nbsp", "\u00a0nbsp"}, // not a control: kept
	{"bad \xff\xfe utf8", `bad \xff\xfe utf8`},
	{"cut \xe6\x97", `cut \xe6\x97`},
	{"\xc2\x9b", `\u009b`},           // C1 CSI encoded in UTF-8
	{"\xc2", `\xc2`},                 // its first byte alone
	{"\ufffd", "\ufffd"},             // a real replacement character is kept
	{`\x1b`, `\x1b`},                 // already escaped text passes unchanged
	{"\xed\xa0\x80", `\xed\xa0\x80`}, // a UTF-8-encoded surrogate is invalid
}

func TestPrintable(t *testing.T) {
	for _, tt := range printableTests {
		if got := Printable(tt.in); got != tt.want {
			t.Errorf("Printable(%q) = %q, want %q", tt.in, got, tt.want)
		}
		checkPrintable(t, tt.in)
	}
}

// checkPrintable holds Printable's result to its promise: valid UTF-8
// without a C0, DEL or C1 control, unchanged by a second pass, and s
// itself when s had nothing to escape.
func checkPrintable(t *testing.T, s string) {
	t.Helper()
	got := Printable(s)
	if !utf8.ValidString(got) {
		t.Fatalf("Printable(%q) = %q is not valid UTF-8", s, got)
	}
	clean := true
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == utf8.RuneError {
			clean = false
		}
	}
	for _, r := range got {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			t.Fatalf("Printable(%q) = %q keeps the control %U", s, got, r)
		}
	}
	if again := Printable(got); again != got {
		t.Fatalf("Printable is not idempotent: %q -> %q -> %q", s, got, again)
	}
	if clean && utf8.ValidString(s) && got != s {
		t.Fatalf("Printable(%q) = %q changed a string with nothing to escape", s, got)
	}
}

// FuzzPrintable checks Printable's promise on any string. Seeds:
// printableTests.
func FuzzPrintable(f *testing.F) {
	for _, tt := range printableTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkPrintable(t, s)
	})
}
