package main

import (
	"slices"
	"strings"
	"testing"
)

// fakeDoc is a small architecture document: cmd/x on top of a, a on b.
const fakeDoc = `# Fake

| package | provides | may import (internal) |
|---|---|---|
| ` + "`cmd/x`" + ` | main | a |
| ` + "`internal/a`" + ` | a, with a \| in it | b, p/frame (its tests: c) |
| ` + "`internal/b`" + ` | b | frame |
| ` + "`internal/p/frame`" + ` | frames | — |

Text after the table.
`

// fakeGraph is code that matches fakeDoc; change applies a test's edit.
func fakeGraph(change func(map[string]*pkgInfo)) map[string]*pkgInfo {
	pkg := func(imps ...string) *pkgInfo {
		p := &pkgInfo{imports: map[string]bool{}, documented: true}
		for _, i := range imps {
			p.imports[i] = true
		}
		return p
	}
	g := map[string]*pkgInfo{
		"cmd/x":            pkg("internal/a"),
		"internal/a":       pkg("internal/b", "internal/p/frame"),
		"internal/p/frame": pkg(),
		"internal/b":       pkg("internal/p/frame"),
	}
	if change != nil {
		change(g)
	}
	return g
}

// TestCheckArch: each way code and table can disagree is reported, and
// matching ones are not.
func TestCheckArch(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		change func(map[string]*pkgInfo)
		want   []string // each a substring of one problem, in order; none: no problem
	}{
		{"code matches the table", fakeDoc, nil, nil},
		{"an import the table forbids", fakeDoc, func(g map[string]*pkgInfo) { g["internal/b"].imports["internal/a"] = true },
			[]string{"internal/b imports internal/a, which docs/ARCHITECTURE.md does not allow"}},
		{"a package missing from the table", fakeDoc, func(g map[string]*pkgInfo) { g["internal/c"] = &pkgInfo{documented: true} },
			[]string{"package internal/c is not in docs/ARCHITECTURE.md's table"}},
		{"a row for a package that no longer exists", fakeDoc, func(g map[string]*pkgInfo) {
			delete(g, "internal/b")
			delete(g["internal/a"].imports, "internal/b")
		}, []string{"row for internal/b, which no longer exists", "lets internal/a import internal/b, which it no longer does"}},
		{"a listed import the code no longer needs", fakeDoc, func(g map[string]*pkgInfo) { delete(g["internal/b"].imports, "internal/p/frame") },
			[]string{"lets internal/b import internal/p/frame, which it no longer does"}},
		{"a row listing a package above it", strings.Replace(fakeDoc, "| frames | — |", "| frames | b |", 1),
			func(g map[string]*pkgInfo) { g["internal/p/frame"].imports["internal/b"] = true },
			[]string{"internal/p/frame's row lists internal/b, which is above it"}},
		{"a package without a doc comment", fakeDoc, func(g map[string]*pkgInfo) { g["internal/a"].documented = false },
			[]string{"package internal/a has no package doc comment"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, err := parseArchTable(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			got := checkArch(table, fakeGraph(tt.change))
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %d like %q", got, len(tt.want), tt.want)
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("problem %q, want one with %q", got[i], tt.want[i])
				}
			}
		})
	}
}

// TestParseArchTable: names resolve to packages, notes and escaped pipes
// are read as such, and a table the checker cannot trust is refused.
func TestParseArchTable(t *testing.T) {
	table, err := parseArchTable(fakeDoc)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"cmd/x", "internal/a", "internal/b", "internal/p/frame"}; !slices.Equal(table.order, want) {
		t.Errorf("rows %q, want %q", table.order, want)
	}
	for pkg, want := range map[string][]string{"cmd/x": {"internal/a"}, "internal/a": {"internal/b", "internal/p/frame"},
		"internal/p/frame": nil, "internal/b": {"internal/p/frame"}} {
		if got := table.imports[pkg]; !slices.Equal(got, want) {
			t.Errorf("%s may import %q, want %q", pkg, got, want)
		}
	}
	row := func(pkg, imports string) string { return "| `" + pkg + "` | x | " + imports + " |\n" }
	head := "| package | provides | may import (internal) |\n|---|---|---|\n"
	bad := []struct {
		name, doc, err string
	}{
		{"no table", "# nothing here\n", "no table"},
		{"no separator", "| package | provides | may import (internal) |\n" + row("internal/a", "—"), "not followed by |---|"},
		{"no rows", head, "no rows"},
		{"an unescaped pipe", head + "| `internal/a` | a | b | — |\n", "4 cells"},
		{"an unknown name", head + row("internal/a", "zz"), `"zz" is no package`},
		{"an ambiguous name", head + row("internal/a", "frame") + row("internal/x/frame", "—") + row("internal/y/frame", "—"), "could be any of"},
		{"a second row", head + row("internal/a", "—") + row("internal/a", "—"), "a second row"},
		{"a package not in backquotes", head + "| internal/a | x | — |\n", "not one code span"},
		{"an empty name", head + row("internal/a", "b,,c") + row("internal/b", "—"), "empty name"},
		{"itself", head + row("internal/a", "a"), "itself"},
		{"twice", head + row("internal/a", "b, b") + row("internal/b", "—"), "twice"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseArchTable(tt.doc); err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseArchTable = %v, want an error with %q", err, tt.err)
			}
		})
	}
}
