package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/config"
	"github.com/rexec-dev/rexec/internal/outcome"
)

func newKeygenCmd(g *globals, env Env) *cobra.Command {
	var file, comment string
	cmd := &cobra.Command{
		Use:   "keygen [--file PATH]",
		Short: "Create an ed25519 identity in OpenSSH format",
		Example: `  rexec keygen                                  # HOME/id_ed25519 and .pub
  rexec keygen --file ./deploy_key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				h, err := g.resolveHome()
				if err != nil {
					return err
				}
				file = h.Path(config.IdentityFile)
			}
			if comment == "" {
				comment = defaultComment()
			}
			id, err := auth.GenerateIdentity(comment)
			if err != nil {
				return fail(outcome.ExitError, err)
			}
			if err := id.WriteFiles(file); err != nil {
				if errors.Is(err, fs.ErrExist) {
					return fail(outcome.ExitError, fmt.Errorf("%s already exists; not overwriting it", file))
				}
				return fail(outcome.ExitError, err)
			}
			fmt.Fprintf(env.Stdout, "Your identity has been saved in %s\nThe public key is in %s.pub\n"+
				"The key fingerprint is:\n%s %s\n", file, file, auth.Fingerprint(id.Public), id.Comment)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "where to write the private key (default HOME/id_ed25519)")
	cmd.Flags().StringVarP(&comment, "comment", "C", "", "comment stored with the key (default user@host)")
	return cmd
}

// defaultComment is "user@hostname", as ssh-keygen writes.
func defaultComment() string {
	host, _ := os.Hostname()
	user := os.Getenv("USER")
	if user == "" {
		user = "rexec"
	}
	return user + "@" + host
}

func newAuthorizeCmd(g *globals, env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "authorize [PUBKEY_FILE|-]",
		Short: "Add a public key to this server's authorized_keys (default: your own identity)",
		Example: `  rexec authorize alice_id_ed25519.pub
  cat key.pub | rexec authorize -
  rexec authorize                               # your own identity`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := g.resolveHome()
			if err != nil {
				return err
			}
			blob, comment, err := readPubKey(h, args, env.Stdin)
			if err != nil {
				return fail(outcome.ExitError, err)
			}
			added, err := auth.AppendAuthorizedBlob(h.Path(config.AuthorizedKeysFile), blob, comment)
			if err != nil {
				return fail(outcome.ExitError, err)
			}
			verb := "authorized"
			if !added {
				verb = "already authorized"
			}
			fmt.Fprintf(env.Stdout, "%s: %s %s\n", verb, auth.FingerprintBlob(blob), comment)
			return nil
		},
	}
}

// readPubKey reads a .pub line (ed25519, ECDSA or RSA: an ssh user's key
// too) from a file, stdin ("-"), or the local identity's .pub when no
// argument is given, and returns the key's wire encoding and comment.
func readPubKey(h config.Home, args []string, stdin io.Reader) ([]byte, string, error) {
	var data []byte
	var err error
	switch {
	case len(args) == 0:
		data, err = os.ReadFile(h.Path(config.IdentityFile) + ".pub")
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("no identity at %s (run `rexec keygen`) and no key file given", h.Path(config.IdentityFile))
		}
	case args[0] == "-":
		data, err = io.ReadAll(io.LimitReader(stdin, 64<<10))
	default:
		data, err = os.ReadFile(args[0])
	}
	if err != nil {
		return nil, "", err
	}
	return auth.ParseUserKeyLine(bytes.TrimSpace(data))
}

func newTrustCmd(g *globals, env Env) *cobra.Command {
	var yes, remove bool
	var port int
	cmd := &cobra.Command{
		Use:   "trust [--remove] HOST",
		Short: "Show a server's host key fingerprint and pin it in known_hosts, or forget it",
		Long: `Connect to HOST, show the fingerprint of its host key and pin it in known_hosts
(asking first on a terminal). With --remove, forget the keys pinned for HOST
instead, as ssh-keygen -R does: after a host was reinstalled, remove its old
key, then trust it again. The old file is kept as known_hosts.old.`,
		Example: `  rexec trust server.example             # show the fingerprint, pin the key
  rexec trust -p 7023 10.0.0.5
  rexec trust --remove server.example    # forget a changed key`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := g.resolveHome()
			if err != nil {
				return err
			}
			t, err := client.ParseTarget(args[0], port)
			if err != nil {
				return fail(outcome.ExitUsage, err)
			}
			aliases, err := loadAliases(h)
			if err != nil {
				return fail(outcome.ExitFailure, err)
			}
			cfg := client.Config{Aliases: aliases, PortGiven: cmd.Flags().Changed("port")}
			t = cfg.Resolve(t)
			if remove {
				return untrust(h, t, env)
			}
			return trust(cmd.Context(), h, t, yes, env)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "pin without asking on a terminal")
	cmd.Flags().BoolVarP(&remove, "remove", "R", false, "forget the host keys pinned for HOST (as ssh-keygen -R)")
	cmd.Flags().IntVarP(&port, "port", "p", client.DefaultPort, "port when HOST names none")
	return cmd
}

// untrust forgets the keys pinned for t.
func untrust(h config.Home, t client.Target, env Env) error {
	kh := auth.KnownHosts{Path: h.Path(config.KnownHostsFile)}
	removed, err := kh.Remove(t.Host, t.Port)
	if err != nil {
		return fail(outcome.ExitError, err)
	}
	if len(removed) == 0 {
		fmt.Fprintf(env.Stdout, "%s: no key pinned in %s\n", t, kh.Path)
		return nil
	}
	for _, r := range removed {
		fmt.Fprintf(env.Stdout, "%s: %s of %s\n", t, r, kh.Path)
	}
	fmt.Fprintf(env.Stdout, "the old file is kept as %s.old\n", kh.Path)
	return nil
}

func trust(ctx context.Context, h config.Home, t client.Target, yes bool, env Env) error {
	kh := auth.KnownHosts{Path: h.Path(config.KnownHostsFile)}
	pub, err := client.FetchHostKey(ctx, t, 0)
	if err != nil {
		return fail(outcome.ExitFailure, err)
	}
	fp := auth.Fingerprint(pub)
	err = kh.Check(t.Host, t.Port, pub)
	var unknown *auth.UnknownHostError
	switch {
	case err == nil:
		fmt.Fprintf(env.Stdout, "%s: host key %s is already pinned\n", t, fp)
		return nil
	case !errors.As(err, &unknown):
		return fail(outcome.ExitFailure, err)
	}
	fmt.Fprintf(env.Stdout, "%s: host key %s\n", t, fp)
	if !yes && isTerminal(env) {
		if ok, err := askOnTerminal(env, fmt.Sprintf("Pin this key for %s? (yes/no) ", t)); err != nil || !ok {
			return fail(outcome.ExitError, errors.New("host key not pinned"))
		}
	}
	if err := kh.Add([]string{t.Addr()}, pub); err != nil {
		return fail(outcome.ExitError, err)
	}
	fmt.Fprintf(env.Stdout, "pinned in %s\n", kh.Path)
	return nil
}
