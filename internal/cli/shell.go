package cli

import (
	"github.com/spf13/cobra"

	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
)

func newShellCmd(g *globals, env Env) *cobra.Command {
	o := &runOpts{}
	cmd := &cobra.Command{
		Use:   "shell [flags] HOST",
		Short: "Open the remote user's login shell (on a PTY when stdin is a terminal)",
		Example: `  rexec shell host                              # interactive; ~. drops a hung session
  rexec shell host < script.sh                  # no terminal: the shell reads stdin`,
		Long: "Open the remote user's login shell. On a terminal it runs on a remote PTY\n" +
			"(type ~. after a newline to drop a hung session, ~? for help); otherwise it\n" +
			"reads commands from stdin, like `ssh host < script`.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pty, err := o.tty.want(isTerminal(env))
			if err != nil {
				return fail(outcome.ExitUsage, err)
			}
			cfg, err := o.conn.clientConfig(g, env)
			if err != nil {
				return err
			}
			return runOne(cmd.Context(), cfg, args[0], o, protocol.Exec{PTY: pty}, env)
		},
	}
	o.conn.register(cmd)
	o.tty.register(cmd, "e")
	return cmd
}
