package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestManPages generates the pages and renders them with man -l, as a
// user would read them: every command has a page with its name,
// synopsis, options and examples.
func TestManPages(t *testing.T) {
	if _, err := exec.LookPath("man"); err != nil {
		t.Fatal("man is needed (.ci/run installs man-db)")
	}
	dir := t.TempDir()
	if err := run(dir); err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{"rexec", "rexec-run", "rexec-serve", "rexec-cp", "rexec-trust", "rexec-completion"} {
		cmd := exec.Command("man", "-l", filepath.Join(dir, page+".1"))
		cmd.Env = append(os.Environ(), "MANPAGER=cat", "MANWIDTH=100", "LANG=C")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("man -l %s: %v", page, err)
		}
		for _, want := range []string{"NAME", page, "SYNOPSIS", "EXAMPLE"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("man -l %s lacks %q:\n%s", page, want, out)
			}
		}
	}
}
