package main

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/rexec-dev/rexec/"

// archDoc is the one source of the import rules: its package table.
const archDoc = "docs/ARCHITECTURE.md"

// TestImportRules holds the code to docs/ARCHITECTURE.md's package table
// (its "may import (internal)" column): every package has a row and a
// package doc comment, imports exactly the internal packages its row
// lists (no more: the rules; no fewer: a table that no longer matches
// the code), every row is a package that exists, and a row lists only
// packages below it, so dependencies point one way.
func TestImportRules(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, archDoc))
	if err != nil {
		t.Fatal(err)
	}
	table, err := parseArchTable(string(doc))
	if err != nil {
		t.Fatalf("%s: %v", archDoc, err)
	}
	pkgs, err := loadGraph(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkArch(table, pkgs) {
		t.Error(p)
	}
}

// archTable is the package table: rows in document order, each with the
// internal packages (module-relative paths) it may import.
type archTable struct {
	order   []string            // packages, top to bottom
	imports map[string][]string // package → may import
}

// archHeader is the table's header; the package is the first column and
// the imports the last.
var archHeader = []string{"package", "provides", "may import (internal)"}

// parenthetical is a note in the imports column, such as "(its tests:
// server, client)": test imports are not checked.
var parenthetical = regexp.MustCompile(`\([^)]*\)`)

// parseArchTable reads the package table from the markdown text doc. A
// package is a code span (`internal/cli`); an imports cell is "—" or a
// comma-separated list of names, each a package's path without
// "internal/" (protocol/frame) or its last element when that is unique
// (frame). A '|' inside a cell is written "\|".
func parseArchTable(doc string) (archTable, error) {
	lines := strings.Split(doc, "\n")
	start := slices.IndexFunc(lines, func(l string) bool { return slices.Equal(cells(l), archHeader) })
	if start < 0 {
		return archTable{}, fmt.Errorf("no table with the header | %s |", strings.Join(archHeader, " | "))
	}
	if start+1 >= len(lines) || strings.Trim(lines[start+1], "|-: ") != "" {
		return archTable{}, fmt.Errorf("line %d: the header is not followed by |---|", start+1)
	}
	t := archTable{imports: map[string][]string{}}
	names := map[string][]string{} // package → raw import names
	for i := start + 2; i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "|"); i++ {
		row := cells(lines[i])
		if len(row) != len(archHeader) {
			return archTable{}, fmt.Errorf("line %d: %d cells, the header has %d (write a | inside a cell as \\|)", i+1, len(row), len(archHeader))
		}
		pkg := strings.Trim(row[0], "`")
		if pkg == "" || strings.ContainsAny(pkg, "` ") || row[0] != "`"+pkg+"`" {
			return archTable{}, fmt.Errorf("line %d: the package %q is not one code span such as `internal/cli`", i+1, row[0])
		}
		if _, dup := names[pkg]; dup {
			return archTable{}, fmt.Errorf("line %d: a second row for %s", i+1, pkg)
		}
		names[pkg] = nil
		t.order = append(t.order, pkg)
		list := strings.TrimSpace(parenthetical.ReplaceAllString(row[len(row)-1], ""))
		if list == "—" || list == "-" {
			continue
		}
		for _, n := range strings.Split(list, ",") {
			n = strings.Trim(strings.TrimSpace(n), "`")
			if n == "" {
				return archTable{}, fmt.Errorf("line %d: an empty name in %q (— for none)", i+1, row[len(row)-1])
			}
			names[pkg] = append(names[pkg], n)
		}
	}
	if len(t.order) == 0 {
		return archTable{}, fmt.Errorf("line %d: the table has no rows", start+1)
	}
	for _, pkg := range t.order {
		for _, n := range names[pkg] {
			imp, err := resolveName(t.order, n)
			if err != nil {
				return archTable{}, fmt.Errorf("row %s: %w", pkg, err)
			}
			if imp == pkg || slices.Contains(t.imports[pkg], imp) {
				return archTable{}, fmt.Errorf("row %s: lists %s twice or itself", pkg, n)
			}
			t.imports[pkg] = append(t.imports[pkg], imp)
		}
	}
	return t, nil
}

// resolveName finds the package a name in the imports column means:
// the one whose path without "internal/" is name, else the only one
// whose last element is name.
func resolveName(pkgs []string, name string) (string, error) {
	var last []string
	for _, p := range pkgs {
		if strings.TrimPrefix(p, "internal/") == name {
			return p, nil
		}
		if p[strings.LastIndexByte(p, '/')+1:] == name {
			last = append(last, p)
		}
	}
	switch len(last) {
	case 0:
		return "", fmt.Errorf("%q is no package of the table", name)
	case 1:
		return last[0], nil
	}
	return "", fmt.Errorf("%q could be any of %s: write more of its path", name, strings.Join(last, ", "))
}

// cells splits a table line at its unescaped '|' into trimmed cells,
// without the empty ones outside the outer pipes.
func cells(line string) []string {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") || len(line) < 2 {
		return nil
	}
	var out []string
	var cur strings.Builder
	for i := 1; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteByte('|')
			i++
		case line[i] == '|':
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	return out
}

// pkgInfo is one package of the code: its non-test internal imports and
// whether it has a package doc comment.
type pkgInfo struct {
	imports    map[string]bool
	documented bool
}

// checkArch compares the code's packages with the table and returns
// every mismatch, one line each, in a stable order.
func checkArch(t archTable, pkgs map[string]*pkgInfo) []string {
	var probs []string
	row := map[string]int{}
	for i, p := range t.order {
		row[p] = i
	}
	for _, name := range t.order {
		if pkgs[name] == nil {
			probs = append(probs, fmt.Sprintf("%s has a row for %s, which no longer exists: remove the row", archDoc, name))
		}
		for _, imp := range t.imports[name] {
			if row[imp] < row[name] {
				probs = append(probs, fmt.Sprintf("%s's row lists %s, which is above it in %s: dependencies point down the table", name, imp, archDoc))
			}
		}
	}
	names := make([]string, 0, len(pkgs))
	for name := range pkgs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := pkgs[name]
		allowed := t.imports[name]
		if _, listed := row[name]; !listed {
			probs = append(probs, fmt.Sprintf("package %s is not in %s's table: add its row", name, archDoc))
			continue
		}
		if !p.documented {
			probs = append(probs, fmt.Sprintf("package %s has no package doc comment", name))
		}
		imps := make([]string, 0, len(p.imports))
		for imp := range p.imports {
			imps = append(imps, imp)
		}
		sort.Strings(imps)
		for _, imp := range imps {
			if !slices.Contains(allowed, imp) {
				probs = append(probs, fmt.Sprintf("%s imports %s, which %s does not allow", name, imp, archDoc))
			}
		}
		for _, imp := range allowed {
			if !p.imports[imp] {
				probs = append(probs, fmt.Sprintf("%s lets %s import %s, which it no longer does: remove it from the row", archDoc, name, imp))
			}
		}
	}
	return probs
}

// loadGraph reads every package under internal/ and cmd/ below root:
// its non-test files' internal imports, whatever their build tags, and
// whether one of them has the package's doc comment.
func loadGraph(root string) (map[string]*pkgInfo, error) {
	pkgs := map[string]*pkgInfo{}
	for _, top := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			rel = filepath.ToSlash(rel)
			if pkgs[rel] == nil {
				pkgs[rel] = &pkgInfo{imports: map[string]bool{}}
			}
			return pkgs[rel].add(path)
		})
		if err != nil {
			return nil, err
		}
	}
	return pkgs, nil
}

func (p *pkgInfo) add(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	f, err := parser.ParseFile(token.NewFileSet(), path, src, parser.ImportsOnly|parser.ParseComments)
	if err != nil {
		return err
	}
	if f.Doc != nil && (strings.HasPrefix(f.Doc.Text(), "Package ") || strings.HasPrefix(f.Doc.Text(), "Command ")) {
		p.documented = true
	}
	for _, imp := range f.Imports {
		ip := strings.Trim(imp.Path.Value, `"`)
		if rest, ok := strings.CutPrefix(ip, module); ok {
			p.imports[rest] = true
		}
	}
	return nil
}

// TestCLIImportsNoEngine: cli wires flags to packages; the daemon's
// engine (server, session, metrics, sdnotify, transport, procnet) is
// daemon's to import, so the table must not let cli import it.
func TestCLIImportsNoEngine(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", archDoc))
	if err != nil {
		t.Fatal(err)
	}
	table, err := parseArchTable(string(doc))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"server", "session", "metrics", "sdnotify", "transport", "procnet"} {
		if slices.Contains(table.imports["internal/cli"], "internal/"+p) {
			t.Errorf("%s lets internal/cli import internal/%s: that is internal/daemon's", archDoc, p)
		}
	}
}
