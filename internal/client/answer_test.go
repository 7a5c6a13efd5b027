package client

import (
	"errors"
	"strings"
	"testing"

	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transfer"
)

func TestRequestedName(t *testing.T) {
	tests := []struct {
		path, name string
		ok         bool
	}{
		{"report.txt", "report.txt", true},
		{"/tmp/report.txt", "report.txt", true},
		{"~/src/", "src", true},
		{"src//", "src", true},
		{"a/./b", "b", true},
		{".bashrc", ".bashrc", true},
		{"a/~", "~", true},
		{"~", "", false},
		{"~/", "", false},
		{"", "", false},
		{"/", "", false},
		{"//", "", false},
		{".", "", false},
		{"..", "", false},
		{"a/..", "", false},
		{"a/./", "", false},
	}
	for _, tt := range tests {
		if name, ok := RequestedName(tt.path); name != tt.name || ok != tt.ok {
			t.Errorf("RequestedName(%q) = %q, %v; want %q, %v", tt.path, name, ok, tt.name, tt.ok)
		}
	}
}

func TestCheckStatName(t *testing.T) {
	tests := []struct {
		path, name string
		ok         bool
	}{
		{"/tmp/report.txt", "report.txt", true},
		{"src/", "src", true},
		{"", "root", true}, // the home directory: nothing the user named to compare
		{".", "root", true},
		{"/", "", true},
		{"/tmp/report.txt", ".bashrc", false},
		{"/tmp/report.txt", "", false},
		{"/tmp/report.txt", "tmp/report.txt", false},
		{"src", ".ssh", false},
		{"src", "../src", false},
		{"x", "x\x1b[2J", false},
	}
	for _, tt := range tests {
		err := checkStatName(tt.path, tt.name)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, transfer.ErrProtocol)) {
			t.Errorf("checkStatName(%q, %q) = %v, want ok %v", tt.path, tt.name, err, tt.ok)
		}
	}
}

// ent is one entry of a get's answer, as getAnswer sees it.
type ent struct{ name, kind string }

const (
	kf = protocol.KindFile
	kd = protocol.KindDir
	kl = protocol.KindSymlink
)

// getAnswerTests are answers to a get with the index of the first entry
// the client must refuse (-1: none).
var getAnswerTests = []struct {
	name    string
	tree    bool
	entries []ent
	refused int
}{
	{"file", false, []ent{{".", kf}}, -1},
	{"file under another name", false, []ent{{".bashrc", kf}}, 0},
	{"file named by a path", false, []ent{{"../.bashrc", kf}}, 0},
	{"file as a directory", false, []ent{{".", kd}}, 0},
	{"file as a link", false, []ent{{".", kl}}, 0},
	{"file twice", false, []ent{{".", kf}, {".", kf}}, 1},
	{"file then another", false, []ent{{".", kf}, {"extra", kf}}, 1},
	{"file with ESC", false, []ent{{"\x1b]0;owned\x07", kf}}, 0},
	{"tree", true, []ent{{"a/f", kf}, {"a/l", kl}, {"a", kd}, {"l", kl}, {"lx", kf}, {"m/l", kf}, {".", kd}}, -1},
	{"empty tree", true, []ent{{".", kd}}, -1},
	{"tree that is a file", true, []ent{{".", kf}}, -1},
	{"tree with ESC inside", true, []ent{{"ok\x1b[31m", kf}, {".", kd}}, -1},
	{"dot-dot", true, []ent{{"f", kf}, {"../.bashrc", kf}}, 1},
	{"dot-dot inside", true, []ent{{"a/../../.bashrc", kf}}, 0},
	{"absolute", true, []ent{{"/root/.bashrc", kf}}, 0},
	{"empty component", true, []ent{{"a//b", kf}}, 0},
	{"dot component", true, []ent{{"./a", kf}}, 0},
	{"temporary name", true, []ent{{".x.rexec-part-0123456789abcdef", kf}}, 0},
	{"file below a link", true, []ent{{"l", kl}, {"l/authorized_keys", kf}}, 1},
	{"directory below a link", true, []ent{{"l", kl}, {"l/d", kd}}, 1},
	{"link below a link", true, []ent{{"a/l", kl}, {"a/l/m", kl}}, 1},
	{"deep below a link", true, []ent{{"a/l", kl}, {"x", kf}, {"a/l/b/c", kf}}, 2},
	{"link sent again as a file", true, []ent{{"l", kl}, {"l", kf}}, 1},
	{"link sent again", true, []ent{{"l", kl}, {"l", kl}}, 1},
	{"entry after the root", true, []ent{{".", kd}, {"x", kf}}, 1},
	{"second root", true, []ent{{"a", kf}, {".", kd}, {".", kd}}, 2},
	{"root as a file after entries", true, []ent{{"a", kf}, {".", kf}}, 1},
	{"root as a link", true, []ent{{".", kl}}, 0},
}

func TestGetAnswer(t *testing.T) {
	for _, tt := range getAnswerTests {
		a := getAnswer{tree: tt.tree}
		refused := -1
		for i, e := range tt.entries {
			if err := a.admit(e.name, e.kind); err != nil {
				if !errors.Is(err, transfer.ErrProtocol) || strings.ContainsRune(err.Error(), 0x1b) {
					t.Errorf("%s: entry %d: error %q is not a protocol violation or shows a raw ESC", tt.name, i, err)
				}
				refused = i
				break
			}
		}
		if refused != tt.refused {
			t.Errorf("%s: first refused entry %d, want %d", tt.name, refused, tt.refused)
		}
		checkAnswer(t, tt.tree, tt.entries)
	}
}

// checkAnswer feeds entries to a getAnswer up to the first it refuses and
// holds what it admitted to the rules of §8.5, worked out independently:
// one "." file without tree; with it, valid names, nothing at or below an
// admitted link, "." a directory or a lone file, and nothing after ".".
func checkAnswer(t *testing.T, tree bool, entries []ent) {
	a := getAnswer{tree: tree}
	var links []string
	ended := false
	for i, e := range entries {
		if a.admit(e.name, e.kind) != nil {
			return
		}
		switch {
		case ended:
			t.Fatalf("entry %d %v admitted after \".\"", i, e)
		case !tree && (i > 0 || e != ent{".", kf}):
			t.Fatalf("entry %d %v admitted for a single file", i, e)
		case e.name == "." && e.kind != kd && (e.kind != kf || i > 0):
			t.Fatalf("entry %d %v admitted as the root", i, e)
		case e.name != "." && transfer.CheckName(e.name) != nil:
			t.Fatalf("entry %d: bad name %q admitted", i, e.name)
		}
		for _, l := range links {
			if e.name == l || strings.HasPrefix(e.name, l+"/") {
				t.Fatalf("entry %d %v admitted at or below the link %q", i, e, l)
			}
		}
		if e.kind == kl && e.name != "." {
			links = append(links, e.name)
		}
		ended = e.name == "."
	}
}

// FuzzGetAnswer checks getAnswer against checkAnswer's rules on any
// answer: one entry per line, a kind letter (f, d, s) and a name; the
// first byte picks tree. Seeds: getAnswerTests.
func FuzzGetAnswer(f *testing.F) {
	for _, tt := range getAnswerTests {
		var b strings.Builder
		if tt.tree {
			b.WriteByte('t')
		} else {
			b.WriteByte('1')
		}
		for _, e := range tt.entries {
			b.WriteString(e.kind[:1] + e.name + "\n")
		}
		f.Add(b.String())
	}
	kinds := map[byte]string{'f': kf, 'd': kd, 's': kl}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" {
			return
		}
		tree := s[0] == 't'
		var entries []ent
		for line := range strings.SplitSeq(s[1:], "\n") {
			if line == "" {
				continue
			}
			kind, ok := kinds[line[0]]
			if !ok {
				kind = kf
			}
			entries = append(entries, ent{line[1:], kind})
		}
		checkAnswer(t, tree, entries)
	})
}
