// Package cli is rexec's command line: cobra commands that turn flags and
// the home directory into calls on the packages below (daemon for `rexec
// serve`, client and fanout for run, shell and cp, auth, audit, legacy),
// with the process's streams injectable (Env), so the whole program can
// be driven in-process by tests through Main. It holds no protocol,
// daemon or process logic of its own: what it adds is the terminal
// (prompts, raw mode, the ~. escape, progress bars) and exit statuses.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rexec-dev/rexec/internal/config"
	"github.com/rexec-dev/rexec/internal/daemon"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// Env is the process environment Main runs in; tests substitute it.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// exitError carries an exit status out of a command without another message.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// failure is an error that should exit with code after printing msg.
type failure struct {
	code int
	err  error
}

func (f failure) Error() string { return f.err.Error() }
func (f failure) Unwrap() error { return f.err }

// fail wraps err so Main exits with code after printing it.
func fail(code int, err error) error { return failure{code: code, err: err} }

// Main runs rexec with args (without the program name) and returns the exit
// status. Errors are printed as one line on env.Stderr.
func Main(ctx context.Context, args []string, env Env) int {
	if home, rest, ok := sshArgs(args); ok {
		return sshMain(ctx, home, rest, env) // ssh's options are not cobra's
	}
	root := newRootFor(env, args)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if err == nil {
		return 0
	}
	fmt.Fprintf(env.Stderr, "rexec: %s\n", oneLine(err.Error()))
	var f failure
	if errors.As(err, &f) {
		return f.code
	}
	return outcome.ExitUsage // errors of the command line itself
}

// sshArgs recognises `rexec [--home DIR] ssh ARGS...` and returns the
// home and ARGS: ssh's options are parsed by sshargs, not cobra.
func sshArgs(args []string) (home string, rest []string, ok bool) {
	for len(args) > 0 {
		switch a := args[0]; {
		case a == "ssh":
			return home, args[1:], true
		case a == "--home" && len(args) > 1:
			home, args = args[1], args[2:]
		case strings.HasPrefix(a, "--home="):
			home, args = strings.TrimPrefix(a, "--home="), args[1:]
		default:
			return "", nil, false
		}
	}
	return "", nil, false
}

// oneLine keeps an error on a single line whatever it wraps, with the
// control characters a peer may have put in it escaped
// (protocol.Printable): every error line goes through it.
func oneLine(s string) string {
	return protocol.Printable(strings.Join(strings.Fields(s), " "))
}

// globals are the flags every command shares.
type globals struct {
	home string
}

func (g *globals) resolveHome() (config.Home, error) {
	h, err := config.ResolveHome(g.home)
	if err != nil {
		return h, fail(outcome.ExitFailure, err)
	}
	return h, nil
}

func newRoot(env Env) *cobra.Command { return newRootFor(env, nil) }

// subcommand is one of rexec's commands, by the name it answers to.
type subcommand struct {
	name  string
	build func() *cobra.Command
}

// subcommands lists rexec's commands, by the name each answers to.
// Building a command builds its flag set, which costs a one-shot
// `rexec run` a measurable part of its start-up (docs/BENCHMARKS.md,
// "One-shot latency after the merges"), so Main builds only the one its
// arguments name; TestSubcommandNames holds every name here to the
// command's own.
func subcommands(g *globals, env Env) []subcommand {
	return []subcommand{
		{"serve", func() *cobra.Command { return newServeCmd(g, env) }},
		{"run", func() *cobra.Command { return newRunCmd(g, env) }},
		{"jobs", func() *cobra.Command { return newJobsCmd(g, env) }},
		{"attach", func() *cobra.Command { return newAttachCmd(g, env) }},
		{"kill", func() *cobra.Command { return newKillCmd(g, env) }},
		{"shell", func() *cobra.Command { return newShellCmd(g, env) }},
		{"cp", func() *cobra.Command { return newCpCmd(g, env) }},
		{"sync", func() *cobra.Command { return newSyncCmd(g, env) }},
		{"keygen", func() *cobra.Command { return newKeygenCmd(g, env) }},
		{"authorize", func() *cobra.Command { return newAuthorizeCmd(g, env) }},
		{"trust", func() *cobra.Command { return newTrustCmd(g, env) }},
		{"legacy", func() *cobra.Command { return newLegacyCmd(env) }},
		{"version", func() *cobra.Command { return newVersionCmd(env) }},
		{"audit", func() *cobra.Command { return newAuditCmd(env) }},
		{"completion", func() *cobra.Command { return newCompletionCmd(env) }},
		{"ssh", func() *cobra.Command { return newSSHCmd(g, env) }},
		{daemon.FileHelperArg, newFileHelperCmd},
		{daemon.SFTPServerArg, newSFTPServerCmd},
	}
}

// newRootFor is the command tree for args: with only the command that
// args[0] names when it names one, otherwise (no arguments, a flag first,
// help, a mistyped name that cobra suggests a correction for) all of them.
func newRootFor(env Env, args []string) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "rexec",
		Short: "Secure, fast remote command execution",
		Long: `rexec runs commands and copies files on other machines, as ssh, scp and
pdsh do: TLS 1.3 with OpenSSH keys, exact streams and exit statuses, no
orphaned processes. rexec serve is the daemon; the other commands are the
client. docs/CLI.md in the source tree is the full contract.`,
		Example: `  rexec serve                         # the daemon, zero configuration, on 127.0.0.1:7022
  rexec run localhost -- uname -a     # a command on a host
  rexec cp report.pdf host:docs/      # a file to a host`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		CompletionOptions: cobra.CompletionOptions{
			DisableDefaultCmd: true, // ours is newCompletionCmd
		},
	}
	root.SetVersionTemplate(versionLine() + "\n")
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.PersistentFlags().StringVar(&g.home, "home", "",
		"rexec home directory (default $REXEC_HOME, else $XDG_CONFIG_HOME/rexec, else ~/.config/rexec)")
	all := subcommands(g, env)
	for _, c := range all {
		if len(args) > 0 && args[0] == c.name {
			root.AddCommand(c.build())
			return root
		}
	}
	for _, c := range all {
		root.AddCommand(c.build())
	}
	return root
}

// stdinFile returns env.Stdin as a file when it is one (for terminal checks).
func stdinFile(env Env) (*os.File, bool) {
	f, ok := env.Stdin.(*os.File)
	return f, ok
}

// Command is rexec's command tree, for tools that document it (the man
// page generator, cmd/rexec-man); Main runs the same tree.
func Command(env Env) *cobra.Command { return newRoot(env) }

// newSFTPServerCmd is the hidden command the daemon's sftp subsystem
// runs, as a session of the connection's account: an SFTP server on
// stdin and stdout (daemon.RunSFTPServer). It is not for users.
func newSFTPServerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    daemon.SFTPServerArg,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := daemon.RunSFTPServer(); err != nil {
				return fail(outcome.ExitFailure, err)
			}
			return nil
		},
	}
}

// newFileHelperCmd is the hidden command a root daemon starts its own
// binary with, as an account, to serve that account's file requests
// (daemon.RunFileHelper). It is not for users.
func newFileHelperCmd() *cobra.Command {
	var umask string
	cmd := &cobra.Command{
		Use:    daemon.FileHelperArg,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			m, err := strconv.ParseUint(umask, 8, 32)
			if err != nil || m > 0o777 {
				return fail(outcome.ExitUsage, fmt.Errorf("--umask %q: want an octal mask", umask))
			}
			if err := daemon.RunFileHelper(int(m)); err != nil {
				return fail(outcome.ExitFailure, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&umask, "umask", "022", "the account's file creation mask, octal")
	return cmd
}
