// Command rexec-man writes rexec's man pages, generated from the command
// tree itself (cobra's doc package), so they cannot drift from the flags
// and help texts: rexec(1) and one page per command, rexec-run(1) and so
// on. `make man` runs it; `make install` installs the pages. It is a
// separate binary so that the man-page renderer costs rexec nothing.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra/doc"

	"github.com/rexec-dev/rexec/internal/cli"
)

func main() {
	dir := flag.String("dir", "man", "directory to write the pages to (created)")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "rexec-man:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root := cli.Command(cli.Env{Stdin: os.Stdin, Stdout: io.Discard, Stderr: io.Discard})
	root.DisableAutoGenTag = true // the pages stay the same for the same source
	header := &doc.GenManHeader{Title: "REXEC", Section: "1", Source: "rexec", Manual: "rexec manual"}
	return doc.GenManTree(root, header, dir)
}
