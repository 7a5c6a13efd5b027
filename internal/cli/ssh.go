package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/config"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/sshargs"
)

// `rexec ssh` (docs/CLI.md §11): OpenSSH's client command line
// in front of rexec's connection, for the tools that take "an ssh-like
// command" as their transport. Unlike `rexec run`, the command's words are
// joined with spaces and run by the account's shell, exactly as ssh does,
// and every failure of rexec itself exits 255.

// sshNames are the program names that make the binary `rexec ssh` (a
// symlink named so, for tools that take only a program path).
var sshNames = map[string]bool{"ssh": true, "rexec-ssh": true}

// ArgsFor returns the arguments Main should run for a process started as
// argv0 with args: those of `rexec ssh` when argv0's base name is ssh or
// rexec-ssh, else args unchanged.
func ArgsFor(argv0 string, args []string) []string {
	base := filepath.Base(argv0)
	base = strings.TrimSuffix(base, ".exe")
	if sshNames[base] {
		return append([]string{"ssh"}, args...)
	}
	return args
}

// newSSHCmd is `rexec ssh` in the command tree: for help and the man
// page. Main runs `rexec ssh ...` itself, before cobra, since ssh's
// options are not cobra's (sshMain); this runs only when a global flag
// comes first.
func newSSHCmd(g *globals, env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "ssh [OPTIONS] [user@]host [COMMAND...]",
		Short: "ssh's command line over rexec: the transport for rsync, git, scp, sftp, Ansible, pdsh",
		Long: "Accepts OpenSSH's client options (-l -p -i -F -o -4 -6 -T -t -n -N -x -A -C -q -v -E -G -O -s -e)\n" +
			"before or after the host. COMMAND's words are joined with spaces and run by the\n" +
			"account's shell, as ssh does; -s sftp starts the SFTP subsystem. Exits with the\n" +
			"remote status, 255 when rexec itself failed. Also runs when the binary is\n" +
			"invoked as ssh or rexec-ssh (a symlink).",
		Example: `  rsync -av -e 'rexec ssh' src/ host:dst/
  GIT_SSH_COMMAND='rexec ssh' git clone ssh://host/srv/repo.git
  sftp -S rexec-ssh host`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := sshMain(cmd.Context(), g.home, args, env); code != 0 {
				return exitError{code: code}
			}
			return nil
		},
	}
}

// sshSession is one `rexec ssh` invocation: its options, where its
// messages go, and the program name they start with.
type sshSession struct {
	o    *sshargs.Options
	env  Env
	prog string
	// debug receives -v's lines (stderr, or -E's file); nil without -v.
	debug io.Writer
	// errs receives error lines (stderr, or -E's file).
	errs io.Writer
}

// sshMain runs `rexec ssh` with args and returns the exit status: the
// remote command's, or 255 when rexec failed (after one line on stderr).
func sshMain(ctx context.Context, home string, args []string, env Env) int {
	s := &sshSession{env: env, prog: "rexec ssh", errs: env.Stderr}
	o, err := sshargs.Parse(args)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %s\n", s.prog, oneLine(err.Error()))
		if strings.HasPrefix(err.Error(), "unknown option") || strings.HasPrefix(err.Error(), "option requires") {
			fmt.Fprintln(env.Stderr, sshargs.Usage)
		}
		return outcome.ExitFailure
	}
	s.o = o
	if o.LogFile != "" {
		f, err := os.OpenFile(o.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			fmt.Fprintf(env.Stderr, "%s: couldn't open logfile %s: %v\n", s.prog, o.LogFile, err)
			return outcome.ExitFailure
		}
		defer f.Close()
		s.errs = f
	}
	if o.Verbose > 0 {
		s.debug = s.errs
	}
	if o.Version {
		fmt.Fprintln(env.Stderr, versionLine()+" (rexec ssh: OpenSSH's client command line)")
		return 0
	}
	err = s.run(ctx, home)
	var ee exitError
	var f failure
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	fmt.Fprintf(s.errs, "%s: %s\n", s.prog, oneLine(err.Error()))
	if errors.As(err, &f) && f.code != outcome.ExitUsage {
		return f.code
	}
	return outcome.ExitFailure
}

// debugf writes one -v line.
func (s *sshSession) debugf(format string, a ...any) {
	if s.debug != nil {
		fmt.Fprintf(s.debug, "debug1: "+format+"\n", a...)
	}
}

// run resolves the configuration and runs the request.
func (s *sshSession) run(ctx context.Context, homeFlag string) error {
	o := s.o
	for _, ig := range o.Ignored {
		s.debugf("ignored (not used by rexec): %s", ig)
	}
	h, err := config.ResolveHome(homeFlag)
	if err != nil {
		return fail(outcome.ExitFailure, err)
	}
	r, err := s.resolve(h)
	if err != nil {
		return fail(outcome.ExitFailure, err)
	}
	if o.PrintConfig {
		if len(r.identities) == 0 {
			r.identities = defaultKeyPaths(h)
		}
		r.print(s.env.Stdout)
		return nil
	}
	if o.Control != "" {
		return fail(outcome.ExitFailure, fmt.Errorf("no ControlPath specified for \"-O\" command (rexec ssh keeps no master connection)"))
	}
	req, err := s.request()
	if err != nil {
		return fail(outcome.ExitFailure, err)
	}
	cfg, err := s.clientConfig(h, r)
	if err != nil {
		return err
	}
	ro := &runOpts{sshStatus: true}
	ro.conn.port = r.port
	ro.noStdin = o.StdinNull || o.NoCommand
	ro.tty.escape = "~"
	if o.EscapeChar != "" {
		ro.tty.escape = o.EscapeChar
	}
	host := r.hostname
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if o.NoCommand {
		return s.waitOnly(ctx, cfg, host, r.port)
	}
	s.debugf("connecting to %s port %d as %q", r.hostname, r.port, cfg.User)
	return runOne(ctx, cfg, host, ro, req, s.env)
}

// request builds the exec message: a subsystem, the login shell, or the
// command's words joined with spaces as ssh joins them (run by the
// account's shell); the terminal as -t, -T and RequestTTY say; SendEnv and
// SetEnv as send_env.
func (s *sshSession) request() (protocol.Exec, error) {
	o := s.o
	var req protocol.Exec
	switch {
	case o.Subsystem:
		req.Subsystem = strings.Join(o.Command, " ")
	case len(o.Command) > 0:
		req.Command = strings.Join(o.Command, " ")
	}
	term := isTerminal(s.env) && !o.StdinNull
	switch o.RequestTTY {
	case "force":
		req.PTY = true
	case "yes":
		req.PTY = term
		if !term && !o.Quiet {
			fmt.Fprintln(s.errs, "Pseudo-terminal will not be allocated because stdin is not a terminal.")
		}
	case "", "auto":
		req.PTY = term && req.Command == "" && req.Subsystem == ""
	}
	if req.Subsystem != "" {
		req.PTY = false
	}
	req.SendEnv = sendEnv(o.SendEnv, o.SetEnv, os.Environ())
	return req, nil
}

// sendEnv is the variables of environ whose names match a SendEnv
// pattern, then SetEnv's pairs (which win), as ssh sends them.
func sendEnv(patterns, set []string, environ []string) map[string]string {
	out := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		for _, p := range patterns {
			if m, _ := path.Match(p, k); m {
				out[k] = v
				break
			}
		}
	}
	for _, kv := range set {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// clientConfig is the connection's configuration: the identity, the
// account, the host-key policy (StrictHostKeyChecking, BatchMode,
// UserKnownHostsFile) and the timeout.
func (s *sshSession) clientConfig(h config.Home, r resolved) (client.Config, error) {
	o := s.o
	co := connOpts{user: r.user, connectTimeout: client.DefaultConnectTimeout, noAliases: true}
	ko := keyOpts{paths: r.identities, identitiesOnly: o.IdentitiesOnly, batch: o.BatchMode, env: s.env}
	plan := planKeys(h, ko)
	co.plan = &plan
	if o.Quiet {
		plan.warnings = nil
	}
	s.debugf("keys: certificate %v, %d offered", plan.identity != nil, len(plan.offer))
	if r.connectTimeout > 0 {
		co.connectTimeout = r.connectTimeout
	}
	switch o.StrictHostKeyChecking {
	case "no", "accept-new":
		co.acceptNew = true
	}
	g := &globals{home: h.Dir}
	prompt := s.env
	prompt.Stderr = s.errs
	if o.BatchMode || o.StrictHostKeyChecking == "yes" {
		prompt.Stdin = nil // no terminal: never ask
	}
	cfg, err := co.clientConfig(g, prompt)
	if err != nil {
		return cfg, err
	}
	if len(o.KnownHostsFiles) > 0 {
		cfg.KnownHosts = auth.KnownHosts{Path: o.KnownHostsFiles[0]}
	}
	return cfg, nil
}

// waitOnly is -N: connect, authenticate, then wait for a signal.
func (s *sshSession) waitOnly(ctx context.Context, cfg client.Config, host string, port int) error {
	t, err := client.ParseTarget(host, port)
	if err != nil {
		return fail(outcome.ExitFailure, err)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	c, err := client.Dial(ctx, cfg, t)
	if err != nil {
		return fail(outcome.ExitFailure, err)
	}
	defer c.Close()
	if err := c.Ready(); err != nil {
		return fail(outcome.ExitFailure, err)
	}
	s.debugf("authenticated to %s; -N: waiting for a signal", t)
	<-ctx.Done()
	return nil
}

// resolved is the configuration a connection uses, as -G prints it.
type resolved struct {
	host, hostname, user string
	port                 int
	// identities are the files named (-i, the client config, ssh's
	// IdentityFile); empty means the defaults.
	identities     []string
	connectTimeout time.Duration
}

// resolve applies, in this order of precedence, the command line, the
// host's alias in client.toml, or else what OpenSSH's client
// configuration (-F, else ~/.ssh/config) says of HostName, User and
// IdentityFile, and the defaults: the rexec port (never a port from
// OpenSSH's configuration), the local login name.
func (s *sshSession) resolve(h config.Home) (resolved, error) {
	o := s.o
	r := resolved{host: o.Host, hostname: o.Host, user: o.User, port: o.Port, identities: o.Identities,
		connectTimeout: o.ConnectTimeout}
	cf, err := config.LoadClientFile(h.Path(config.ClientConfigFile))
	if err != nil {
		return r, err
	}
	var hostname string
	if ch, ok := cf.Hosts[o.Host]; ok {
		s.debugf("host %s: from %s", o.Host, h.Path(config.ClientConfigFile))
		hostname = ch.HostName
		r.user = cmp.Or(r.user, ch.User)
		r.port = cmp.Or(r.port, ch.Port)
		r.connectTimeout = cmp.Or(r.connectTimeout, ch.ConnectTimeout)
		if len(r.identities) == 0 && ch.Identity != "" {
			r.identities = []string{config.ExpandTilde(ch.Identity)}
		}
	} else if path := s.sshConfigPath(); path != "" {
		sh, err := config.LoadSSHConfig(path, o.Host)
		if err != nil {
			return r, err
		}
		hostname, r.user = sh.HostName, cmp.Or(r.user, sh.User)
		if len(r.identities) == 0 {
			r.identities = sh.Identities
		}
	}
	r.hostname = cmp.Or(o.HostName, hostname, o.Host)
	if r.port == 0 {
		r.port = client.DefaultPort
	}
	return r, nil
}

// sshConfigPath is OpenSSH's client configuration to read: -F's file
// ("none": none), else ~/.ssh/config.
func (s *sshSession) sshConfigPath() string {
	switch s.o.ConfigFile {
	case "none":
		return ""
	case "":
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		return filepath.Join(home, ".ssh", "config")
	}
	return s.o.ConfigFile
}

// print writes the configuration as ssh -G does: lower-case keywords,
// one per line.
func (r resolved) print(w io.Writer) {
	user := r.user
	if user == "" {
		user = client.LocalUser()
	}
	fmt.Fprintf(w, "host %s\nhostname %s\nuser %s\nport %d\n", r.host, r.hostname, user, r.port)
	for _, id := range r.identities {
		fmt.Fprintf(w, "identityfile %s\n", id)
	}
	if r.connectTimeout > 0 {
		fmt.Fprintf(w, "connecttimeout %d\n", int(r.connectTimeout.Seconds()))
	}
}
