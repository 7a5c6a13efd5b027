package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/rexec-dev/rexec/"

// allowedImports is the import graph of docs/ARCHITECTURE.md: for every
// package under internal/, the internal packages it may import.
// Dependencies point one way; a package missing here fails the test, so a
// new package is added to the doc and to this table together.
var allowedImports = map[string][]string{
	"internal/protocol/frame": {},
	"internal/auth":           {},
	"internal/config":         {},
	"internal/session":        {},
	"internal/audit":          {},
	"internal/procnet":        {},
	"internal/sdnotify":       {},
	"internal/protocol":       {"internal/protocol/frame"},
	"internal/transport":      {"internal/auth"},
	"internal/metrics":        {"internal/procnet"},
	"internal/legacy":         {"internal/session", "internal/audit", "internal/procnet"},
	"internal/synwatch":       {"internal/metrics", "internal/procnet"},
	"internal/transfer":       {"internal/protocol", "internal/protocol/frame"},
	"internal/client": {"internal/auth", "internal/protocol", "internal/protocol/frame", "internal/transfer",
		"internal/transport"},
	"internal/server": {"internal/auth", "internal/protocol", "internal/protocol/frame",
		"internal/session", "internal/transfer", "internal/transport", "internal/audit", "internal/metrics"},
	"internal/fanout": {"internal/client", "internal/protocol"},
	"internal/cli": {"internal/auth", "internal/client", "internal/config", "internal/fanout", "internal/legacy",
		"internal/protocol", "internal/server", "internal/session", "internal/transfer", "internal/transport",
		"internal/audit", "internal/metrics", "internal/sdnotify", "internal/synwatch"},
	"cmd/rexec": {"internal/cli"},

	// The pre-auth load generator: a command of its own, knowing nothing
	// of rexec's packages.
	"internal/flood":  {},
	"cmd/rexec-flood": {"internal/flood"},

	// Test-only packages: the fault proxy imports nothing internal; the
	// reliability suites are tests whose doc.go imports nothing.
	"internal/faultproxy":       {},
	"internal/reliability":      {},
	"internal/reliability/load": {},
}

// TestImportRules checks every package's non-test imports against
// allowedImports and that every package has a package doc comment.
func TestImportRules(t *testing.T) {
	root := filepath.Join("..", "..")
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
			t.Fatal(err)
		}
	}
	names := make([]string, 0, len(pkgs))
	for name := range pkgs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := pkgs[name]
		allowed, known := allowedImports[name]
		if !known {
			t.Errorf("package %s is not in the import rules: add it to docs/ARCHITECTURE.md and allowedImports", name)
			continue
		}
		if !p.documented {
			t.Errorf("package %s has no package doc comment", name)
		}
		for imp := range p.imports {
			if !slices.Contains(allowed, imp) {
				t.Errorf("%s imports %s, which docs/ARCHITECTURE.md does not allow", name, imp)
			}
		}
	}
}

type pkgInfo struct {
	imports    map[string]bool
	documented bool
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
	if f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package ") || f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Command ") {
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
