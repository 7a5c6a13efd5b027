package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rexec-dev/rexec/internal/legacy"
	"github.com/rexec-dev/rexec/internal/outcome"
)

func newLegacyCmd(env Env) *cobra.Command {
	c := &legacy.Client{Stdout: env.Stdout, Stderr: env.Stderr}
	cmd := &cobra.Command{
		Use:   "legacy [ADDR] [-- COMMAND]",
		Short: "Client for the lesson's plain protocol (unauthenticated, plaintext)",
		Example: `  rexec legacy 127.0.0.1:8081                   # the >>: prompt loop
  rexec legacy 127.0.0.1:8081 -- 'echo hi'      # one command; exits with its status`,
		Long: "Talk to a server of the lesson's plain protocol (its server.py, or\n" +
			"`rexec serve --legacy-listen`): the >>: prompt loop, or one command after --.\n" +
			"ADDR defaults to " + legacy.DefaultAddr + ". With one command, rexec exits with\n" +
			"the command's status when the server sends it (rexec serve does; server.py\n" +
			"does not, and then the status is 0).",
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			addrs, command := args, []string(nil)
			if dash >= 0 {
				addrs, command = args[:dash], args[dash:]
			}
			if len(addrs) > 1 {
				return fmt.Errorf("one address at most, got %q (put the command after --)", addrs)
			}
			if len(addrs) == 1 {
				c.Addr = addrs[0]
			}
			if dash >= 0 {
				if len(command) == 0 {
					return fmt.Errorf("no command after --")
				}
				rep, err := c.Run(cmd.Context(), strings.Join(command, " "))
				if err != nil {
					return fail(outcome.ExitFailure, err)
				}
				if code := legacyExit(rep.Header); code != 0 {
					return exitError{code: code}
				}
				return nil
			}
			if err := c.PromptLoop(cmd.Context(), env.Stdin, env.Stdout); err != nil {
				return fail(outcome.ExitFailure, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&c.Encoding, "encoding", "", "output encoding: utf-8, gbk or raw (default: utf-8 if valid, else gbk, else raw)")
	cmd.Flags().BoolVar(&c.HideHeader, "no-header", false, "do not print the reply's header line")
	cmd.Flags().DurationVar(&c.Timeout, "timeout", 0, "give up on a reply after this long (default: no limit)")
	return cmd
}

// legacyExit is the exit status of `rexec legacy ADDR -- COMMAND` for a
// reply's header: its exit_code (already 128+N for a signal), 0 from a
// server that sends none (the lesson's server.py), and outcome.ExitFailure for a
// code no process can exit with.
func legacyExit(h legacy.Header) int {
	switch {
	case h.ExitCode == nil:
		return 0
	case *h.ExitCode < 0 || *h.ExitCode > 255:
		return outcome.ExitFailure
	}
	return *h.ExitCode
}
