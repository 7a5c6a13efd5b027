package cli

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/auth"
)

// Exit statuses of `rexec audit verify` and `rexec audit head`, as grep
// and cmp use them: 1 for "checked, and it is broken", 2 for "could not
// check" (a file that cannot be read, a malformed --head or --key).
const (
	exitAuditBroken  = 1
	exitAuditTrouble = 2
)

func newAuditCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Work with the daemon's audit log",
		Example: `  rexec audit verify /var/log/rexec/audit.log
  rexec audit head /var/log/rexec/audit.log`,
		Args: cobra.NoArgs,
	}
	var head, keyFile string
	verify := &cobra.Command{
		Use:   "verify [--head SEQ:HASH] [--key HOST_KEY.pub] FILE",
		Short: "Check an audit log's hash chain and name the first broken record",
		Example: `  rexec audit verify audit.log
  rexec audit verify --head 1234:9f86d0...a08 audit.log   # a head the journal logged
  rexec audit verify --key host_ed25519_key.pub audit.log`,
		Long: `Check that every record of an audit log (written by rexec serve --audit-log)
is intact, that seq counts up from 1, and that each record holds the SHA-256
of the one before. FILE "-" reads standard input.

From the file alone, records cut from the end of the log, or an end rewritten
with every hash after it recomputed, cannot be detected. Two anchors kept
elsewhere can:

  --head SEQ:HASH   a head printed earlier by "rexec audit head", or logged by
                    the daemon to its journal ("audit head ... head=SEQ:HASH",
                    every minute while it writes and at shutdown): record SEQ
                    must still be in the log with that hash. Records after it
                    are fine (the log grew).
  --key FILE        the daemon's host public key (host_ed25519_key.pub): every
                    checkpoint record (rexec serve --audit-checkpoint) must
                    carry its valid signature. A rewrite that keeps a later
                    checkpoint fails; the records after the last valid
                    checkpoint are not covered, so the last one is reported.

Prints "ok: N records, chain intact" (and what the anchors found) and exits 0,
or names the first broken record on one line and exits 1; exits 2 when the
file or key cannot be read or --head is malformed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error { return auditVerify(env, args[0], head, keyFile) },
	}
	verify.Flags().StringVar(&head, "head", "", "SEQ:HASH that must be in the log (from `rexec audit head` or the daemon's log)")
	verify.Flags().StringVar(&keyFile, "key", "", "host public key file whose signature every checkpoint must carry")
	cmd.AddCommand(verify, &cobra.Command{
		Use:     "head FILE",
		Short:   "Print the last record of an intact audit log as SEQ:HASH",
		Example: `  rexec audit head audit.log                    # keep the line elsewhere, verify --head later`,
		Long: `Verify an audit log as "rexec audit verify" does and print its last record's
seq and hash as SEQ:HASH on one line ("0:000...0" for an empty log). Keep it
somewhere the log's host cannot change; later, "rexec audit verify --head
SEQ:HASH FILE" fails if that record was cut off or rewritten. Exits 1 when the
log is broken, 2 when it cannot be read.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error { return auditHead(env, args[0]) },
	})
	return cmd
}

// openAuditInput opens path, or standard input for "-"; close is never nil.
func openAuditInput(env Env, path string) (io.Reader, func(), error) {
	if path == "-" {
		return env.Stdin, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fail(exitAuditTrouble, fmt.Errorf("audit: %w", err))
	}
	return f, func() { f.Close() }, nil
}

// auditFailure maps a verification error to its exit status.
func auditFailure(err error) error {
	var broken *audit.BrokenError
	if errors.As(err, &broken) {
		return fail(exitAuditBroken, err)
	}
	return fail(exitAuditTrouble, err)
}

func auditVerify(env Env, path, headArg, keyFile string) error {
	var opts audit.VerifyOptions
	if headArg != "" {
		h, err := audit.ParseHead(headArg)
		if err != nil {
			return fail(exitAuditTrouble, err)
		}
		opts.Head = &h
	}
	if keyFile != "" {
		pub, err := readAuditKey(keyFile)
		if err != nil {
			return fail(exitAuditTrouble, err)
		}
		opts.Key = pub
	}
	r, closeIn, err := openAuditInput(env, path)
	if err != nil {
		return err
	}
	defer closeIn()
	rep, err := audit.VerifyWith(r, opts)
	if err != nil {
		return auditFailure(err)
	}
	fmt.Fprintf(env.Stdout, "ok: %d records, chain intact%s\n", rep.Records, anchorSummary(rep, opts))
	return nil
}

// anchorSummary says what the anchors of opts found in an intact log.
func anchorSummary(rep audit.Report, opts audit.VerifyOptions) string {
	var s string
	if opts.Head != nil {
		s += fmt.Sprintf("; head %d present", opts.Head.Seq)
	}
	if opts.Key != nil {
		switch {
		case rep.Checkpoints == 0:
			s += "; no signed checkpoint"
		default:
			s += fmt.Sprintf("; %d %s signed by the key, the last at record %d (%d %s after it)",
				rep.Checkpoints, plural(rep.Checkpoints, "checkpoint"), rep.LastCheckpoint,
				rep.Records-rep.LastCheckpoint, plural(rep.Records-rep.LastCheckpoint, "record"))
		}
	}
	return s
}

// maxPubKeyFile bounds what --key reads: an OpenSSH ed25519 public key
// line is about 100 bytes.
const maxPubKeyFile = 64 << 10

// plural is word, with an "s" unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// readAuditKey reads an OpenSSH public key line (host_ed25519_key.pub).
func readAuditKey(path string) (ed25519.PublicKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPubKeyFile))
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	pub, _, err := auth.ParsePublicKeyLine(bytes.TrimSpace(data))
	if err != nil {
		return nil, fmt.Errorf("--key %s: %w", path, err)
	}
	return pub, nil
}

func auditHead(env Env, path string) error {
	r, closeIn, err := openAuditInput(env, path)
	if err != nil {
		return err
	}
	defer closeIn()
	h, err := audit.ReadHead(r)
	if err != nil {
		return auditFailure(err)
	}
	fmt.Fprintln(env.Stdout, h)
	return nil
}
