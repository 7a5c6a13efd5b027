// Command rexec is both the rexec daemon (rexec serve) and its client
// (run, shell, cp, ...). All logic lives in internal/cli and below; main
// only hands it the process's arguments and streams.
package main

import (
	"context"
	"os"

	"github.com/rexec-dev/rexec/internal/cli"
)

func main() {
	env := cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	os.Exit(cli.Main(context.Background(), cli.ArgsFor(os.Args[0], os.Args[1:]), env))
}
