package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/rexec-dev/rexec/internal/audit"
)

// Exit statuses of `rexec audit verify`, as grep and cmp use them: 1 for
// "checked, and it is broken", 2 for "could not check".
const (
	exitAuditBroken  = 1
	exitAuditTrouble = 2
)

func newAuditCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Work with the daemon's audit log",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "verify FILE",
		Short: "Check an audit log's hash chain and name the first broken record",
		Long: `Check that every record of an audit log (written by rexec serve --audit-log)
is intact, that seq counts up from 1, and that each record holds the SHA-256
of the one before. FILE "-" reads standard input.

Prints "ok: N records, chain intact" and exits 0, or names the first broken
record and exits 1; exits 2 when the file cannot be read. Records cut from
the end of the log cannot be detected from the file alone.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error { return auditVerify(env, args[0]) },
	})
	return cmd
}

func auditVerify(env Env, path string) error {
	var r io.Reader = env.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return fail(exitAuditTrouble, fmt.Errorf("audit: %w", err))
		}
		defer f.Close()
		r = f
	}
	n, err := audit.Verify(r)
	var broken *audit.BrokenError
	switch {
	case errors.As(err, &broken):
		return fail(exitAuditBroken, err)
	case err != nil:
		return fail(exitAuditTrouble, err)
	}
	fmt.Fprintf(env.Stdout, "ok: %d records, chain intact\n", n)
	return nil
}
