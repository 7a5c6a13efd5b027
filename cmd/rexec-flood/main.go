// Command rexec-flood is a load generator for rexec's pre-authentication
// defences: many idle, dripping or garbage TCP connections from one source
// address, with a JSON-lines report of when the server closed each. All
// logic lives in internal/flood.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rexec-dev/rexec/internal/flood"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := flood.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
