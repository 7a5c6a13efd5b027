package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/config"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// connOpts are the flags of every command that connects to a server.
type connOpts struct {
	identity       string
	port           int
	user           string
	acceptNew      bool
	connectTimeout time.Duration
	// plan, when set, are the keys to use (rexec ssh), instead of -i or
	// rexec's identity.
	plan *keyPlan
	// portFlag is the command's port flag, to tell -p given from its
	// default (a host alias's port yields to the command line only).
	portFlag *pflag.Flag
	// noAliases leaves client.toml unread (rexec ssh resolves its own).
	noAliases bool
}

// register adds the connection flags as ssh spells them (-p, -l).
func (o *connOpts) register(cmd *cobra.Command) {
	o.registerFlags(cmd, "p", "port when HOST names none", "l")
}

// registerCopy adds them as scp spells them, for cp and sync: -P for the
// port, and --login without -l (scp's -l is a bandwidth limit).
func (o *connOpts) registerCopy(cmd *cobra.Command) {
	o.registerFlags(cmd, "P", "port of the remote hosts (a --hosts line may name its own)", "")
}

func (o *connOpts) registerFlags(cmd *cobra.Command, portShort, portUsage, loginShort string) {
	f := cmd.Flags()
	f.StringVarP(&o.identity, "identity", "i", "", "identity file (an OpenSSH id_ed25519 works; default HOME/id_ed25519)")
	f.IntVarP(&o.port, "port", portShort, client.DefaultPort, portUsage)
	f.StringVarP(&o.user, "login", loginShort, "", "the remote account when HOST has no user@ (default: your login name)")
	f.BoolVar(&o.acceptNew, "accept-new", false, "pin an unknown host key without asking")
	f.DurationVar(&o.connectTimeout, "connect-timeout", client.DefaultConnectTimeout, "time allowed to connect and authenticate")
	o.portFlag = f.Lookup("port")
}

// clientConfig loads the identity and trust settings for a client command.
func (o *connOpts) clientConfig(g *globals, env Env) (client.Config, error) {
	h, err := g.resolveHome()
	if err != nil {
		return client.Config{}, err
	}
	id, offer, err := o.loadKeys(h, env)
	if err != nil {
		return client.Config{}, err
	}
	if o.user != "" {
		if err := client.CheckUser(o.user); err != nil {
			return client.Config{}, fail(outcome.ExitFailure, fmt.Errorf("-l: %w", err))
		}
	}
	cfg := client.Config{Identity: id, Offer: offer, KnownHosts: auth.KnownHosts{Path: h.Path(config.KnownHostsFile)}, User: o.user,
		AcceptNew: o.acceptNew, TicketDir: h.Path(config.TicketsDir), ConnectTimeout: o.connectTimeout, Software: "rexec/" + version(),
		PortGiven: o.portFlag != nil && o.portFlag.Changed}
	if !o.noAliases {
		if cfg.Aliases, err = loadAliases(h); err != nil {
			return client.Config{}, fail(outcome.ExitFailure, err)
		}
	}
	if isTerminal(env) {
		cfg.Confirm = func(host, fp string) (bool, error) {
			return askOnTerminal(env, fmt.Sprintf("The authenticity of host '%s' can't be established.\n"+
				"ED25519 key fingerprint is %s.\nAre you sure you want to continue connecting (yes/no)? ", host, fp))
		}
	}
	return cfg, nil
}

// loadAliases reads the host aliases of client.toml (docs/CLI.md §11.2)
// for every command that connects: hostname, user, port and connect
// timeout. A missing file has none.
func loadAliases(h config.Home) (map[string]client.HostAlias, error) {
	cf, err := config.LoadClientFile(h.Path(config.ClientConfigFile))
	if err != nil || len(cf.Hosts) == 0 {
		return nil, err
	}
	m := make(map[string]client.HostAlias, len(cf.Hosts))
	for name, ch := range cf.Hosts {
		m[name] = client.HostAlias{HostName: ch.HostName, User: ch.User, Port: ch.Port, ConnectTimeout: ch.ConnectTimeout}
	}
	return m, nil
}

// loadKeys loads the identity: -i or rexec's own, on the fast path (an
// unencrypted ed25519 file is the TLS certificate's key). When that file
// is missing (and -i was not given), is of another type, is
// passphrase-protected or is a .pub naming an agent key, the keys are
// those of docs/CLI.md §11.1: the file named, or ssh's default files,
// and ssh-agent's keys, offered and proven (planKeys). o.plan, when set,
// decides instead (rexec ssh).
func (o *connOpts) loadKeys(h config.Home, env Env) (*auth.Identity, []client.OfferedKey, error) {
	path := o.identity
	if path == "" {
		path = h.Path(config.IdentityFile)
	}
	var err error
	if o.plan == nil {
		var id *auth.Identity
		id, err = auth.LoadIdentity(path)
		switch {
		case err == nil:
			return id, nil, nil
		case errors.Is(err, os.ErrNotExist) && o.identity == "", errors.Is(err, auth.ErrUnsupportedKey),
			errors.Is(err, auth.ErrEncryptedKey), errors.Is(err, auth.ErrMalformedKey) && strings.HasSuffix(path, ".pub"):
		default:
			return nil, nil, fail(outcome.ExitFailure, err)
		}
	}
	plan := o.plan
	if plan == nil {
		ko := keyOpts{env: env}
		if o.identity != "" {
			ko.paths = []string{o.identity}
		}
		p := planKeys(h, ko)
		plan = &p
	}
	for _, w := range plan.warnings {
		fmt.Fprintf(env.Stderr, "rexec: warning: %s\n", oneLine(w))
	}
	if plan.identity == nil && len(plan.offer) == 0 {
		if errors.Is(err, os.ErrNotExist) || err == nil {
			err = fmt.Errorf("no identity at %s and none of ssh's (~/.ssh/id_ed25519, id_ecdsa, id_rsa, ssh-agent): "+
				"run `rexec keygen` (or `rexec serve` once on this machine), or pass -i", path)
		}
		return nil, nil, fail(outcome.ExitFailure, err)
	}
	return plan.identity, plan.offer, nil
}

type runOpts struct {
	conn    connOpts
	tty     ttyOpts
	env     []string
	dir     string
	timeout time.Duration
	noStdin bool
	shell   bool
	noShell bool
	detach  bool
	fan     fanOpts
	// sshStatus exits as ssh does (rexec ssh): 255 for a remote command
	// killed by a signal, where rexec run exits 128+N.
	sshStatus bool
}

// ttyOpts choose whether a session gets a remote terminal (-t, -T) and
// which escape character the local side watches for.
type ttyOpts struct {
	force, forbid bool
	escape        string
}

func (o *ttyOpts) register(cmd *cobra.Command, escapeShort string) {
	f := cmd.Flags()
	f.BoolVarP(&o.force, "tty", "t", false, "force a remote pseudo-terminal")
	f.BoolVarP(&o.forbid, "no-tty", "T", false, "never allocate a remote pseudo-terminal")
	f.StringVarP(&o.escape, "escape", escapeShort, "~", "escape character for PTY sessions, or none")
}

// want decides whether to ask for a PTY: -T wins, then -t, then the
// default (a shell on a terminal gets one, a command does not), as ssh does.
func (o *ttyOpts) want(def bool) (bool, error) {
	if o.force && o.forbid {
		return false, fmt.Errorf("-t and -T are exclusive")
	}
	return !o.forbid && (o.force || def), nil
}

func newRunCmd(g *globals, env Env) *cobra.Command {
	o := &runOpts{}
	cmd := &cobra.Command{
		Use:   "run [flags] HOST... -- COMMAND [ARG...]",
		Short: "Run a command on a host, or on many (fan-out)",
		Example: `  rexec run host -- uname -a                    # argv, run exactly as given
  rexec run host 'ps aux | grep nginx'          # one argument: a shell string
  rexec run --timeout 30s -e LANG=C host -- make check
  rexec run web[01-20] --output group -- cat /etc/debian_version`,
		Long: "Run a command on a host. One COMMAND argument is a shell string run by the\n" +
			"remote user's shell; several are an exact argv, run with no shell.\n\n" +
			"With several HOSTs, a range (web[01-20]) or --hosts FILE, the command runs on\n" +
			"every host, -f at a time; stdin is not forwarded and -t is refused.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			hosts, command, err := o.fan.split(args, cmd.ArgsLenAtDash())
			if err != nil {
				return err
			}
			req, err := o.request(command)
			if err != nil {
				return err
			}
			cfg, err := o.conn.clientConfig(g, env)
			if err != nil {
				return err
			}
			cfg.Resume = true // a dropped connection is resumed (docs/CLI.md §10.3)
			if o.detach {
				req.Detach = true
			}
			if o.fan.wanted(hosts) {
				return runFanout(cmd.Context(), cfg, hosts, o, req, env)
			}
			if o.detach {
				if o.tty.force {
					return fail(outcome.ExitUsage, errors.New("--detach runs without a terminal: -t is refused"))
				}
				return runDetachOne(cmd.Context(), cfg, hosts[0], o, req, env)
			}
			if req.PTY, err = o.tty.want(false); err != nil {
				return fail(outcome.ExitUsage, err)
			}
			return runOne(cmd.Context(), cfg, hosts[0], o, req, env)
		},
	}
	cmd.Flags().SetInterspersed(false) // flags end at HOST, as with ssh
	o.conn.register(cmd)
	o.tty.register(cmd, "")
	o.fan.register(cmd)
	f := cmd.Flags()
	f.StringArrayVarP(&o.env, "env", "e", nil, "set a remote environment variable K=V (repeatable)")
	f.StringVarP(&o.dir, "dir", "C", "", "remote working directory (default: the remote home)")
	f.DurationVar(&o.timeout, "timeout", 0, "kill the remote command after this long (exit status 124)")
	f.BoolVarP(&o.noStdin, "no-stdin", "n", false, "do not forward stdin (remote stdin is empty)")
	f.BoolVar(&o.shell, "shell", false, "join several COMMAND arguments into one shell string, as ssh does")
	f.BoolVar(&o.noShell, "no-shell", false, "run a single COMMAND argument as a program, without a shell")
	f.BoolVar(&o.detach, "detach", false, "start the command as a job that outlives this connection; print its id (rexec attach, jobs, kill)")
	return cmd
}

// splitHostsCommand separates HOST... from COMMAND: at the first "--" when
// given, else the first argument is the host and the rest the command.
// Flag parsing stops at HOST, so a "--" after it arrives as an argument.
func splitHostsCommand(args []string, dash int) ([]string, []string, error) {
	var hosts, command []string
	if dash < 0 {
		dash = slices.Index(args, "--")
		if dash >= 0 {
			args = slices.Delete(slices.Clone(args), dash, dash+1)
		}
	}
	if dash >= 0 {
		hosts, command = args[:dash], args[dash:]
	} else {
		hosts, command = args[:1], args[1:]
	}
	switch {
	case len(hosts) == 0:
		return nil, nil, fmt.Errorf("no host given")
	case len(command) == 0:
		return nil, nil, fmt.Errorf("no command given (for an interactive shell use `rexec shell HOST`)")
	}
	return hosts, command, nil
}

// request builds the exec message from the command words and flags.
func (o *runOpts) request(command []string) (protocol.Exec, error) {
	var req protocol.Exec
	switch {
	case o.shell && o.noShell:
		return req, fmt.Errorf("--shell and --no-shell are exclusive")
	case len(command) == 1 && !o.noShell, o.shell:
		req.Command = strings.Join(command, " ")
	default:
		req.Argv = command
	}
	if o.timeout < 0 {
		return req, fmt.Errorf("--timeout must be positive")
	}
	req.TimeoutMS = o.timeout.Milliseconds()
	if o.timeout > 0 && req.TimeoutMS == 0 {
		req.TimeoutMS = 1
	}
	req.Cwd = o.dir
	for _, kv := range o.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(k, "\x00") {
			return req, fmt.Errorf("-e %q: want NAME=VALUE", kv)
		}
		if req.Env == nil {
			req.Env = map[string]string{}
		}
		req.Env[k] = v
	}
	return req, nil
}

// runOne runs req on one host and turns the result into the exit status of
// docs/CLI.md §4: the remote code (128+N for a signal, 124 for a timeout), 255
// with a one-line reason for rexec's own failures.
func runOne(ctx context.Context, cfg client.Config, host string, o *runOpts, req protocol.Exec, env Env) error {
	t, err := client.ParseTarget(host, o.conn.port)
	if err != nil {
		return fail(outcome.ExitFailure, err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c, err := client.Dial(ctx, cfg, t)
	if err != nil {
		return fail(outcome.ExitFailure, err)
	}
	defer c.Close()
	sio := client.IO{Stdout: env.Stdout, Stderr: env.Stderr}
	if !o.noStdin && !isDevNull(env.Stdin) {
		sio.Stdin = env.Stdin
	}
	if req.PTY {
		esc, useEsc, err := parseEscape(o.tty.escape)
		if err != nil {
			return fail(outcome.ExitUsage, err)
		}
		restore, err := setupPTY(env, &req, &sio, esc, useEsc, cancel)
		if err != nil {
			return fail(outcome.ExitFailure, err)
		}
		defer restore()
	}
	sigs, registered, stop := forwardSignals(cancel, req.PTY)
	defer stop()
	sio.Signals = sigs
	sio.Stdout = &heldWriter{w: sio.Stdout, until: registered}
	sio.Stderr = &heldWriter{w: sio.Stderr, until: registered}
	res, err := c.Run(ctx, req, sio)
	if errors.Is(context.Cause(ctx), errEscapeDisconnect) {
		return fail(outcome.ExitFailure, fmt.Errorf("connection to %s closed (~.)", t))
	}
	if err != nil {
		return fail(outcome.ExitFailure, err)
	}
	if o.sshStatus && res.Exit.Signal != "" {
		return exitError{code: outcome.ExitFailure} // as ssh exits for a remote command killed by a signal
	}
	return exitStatus(t, res, o.timeout)
}

// exitStatus maps a finished command to the process's exit status; a
// timeout says so on stderr, since 124 alone could be the command's own.
func exitStatus(t client.Target, res client.Result, timeout time.Duration) error {
	e := res.Exit
	switch {
	case e.TimedOut:
		return fail(e.Code, fmt.Errorf("%s: timed out after %v (--timeout): the remote command was killed", t, timeout))
	case e.Error != "":
		return fail(e.Code, fmt.Errorf("%s: %s", t, e.Error))
	case e.Code == 0:
		return nil
	}
	return exitError{code: e.Code}
}

// forwardSignals relays SIGINT, SIGTERM, SIGHUP and SIGQUIT to the remote
// command; a second one gives up on it: cancel closes the connection and
// the server kills the remote tree. In a PTY session the keys that make
// signals travel as typed bytes, and a signal to the client itself drops
// the session at once, as it does for ssh (interactive shells ignore TERM).
//
// Registering the signals is a noticeable share of a one-shot `rexec run`
// (the runtime starts a thread to own the signal mask and makes a round
// trip to it per signal), and unregistering them as much again
// (docs/BENCHMARKS.md, "Figures that used to be in comments"). So:
//   - the registration runs on its own goroutine while the command is sent
//     and started. Until it is done a signal still ends the client, as
//     before forwarding began; registered is closed when it is, and the
//     caller holds the command's output until then (heldWriter), so a
//     signal sent after seeing that output is always forwarded;
//   - stop ends the relay but leaves the registration in place: a run is
//     the last thing its process does, and a signal in the moment between
//     the run's end and the exit is dropped, the command having ended.
func forwardSignals(cancel context.CancelCauseFunc, pty bool) (sigs <-chan string, registered <-chan struct{}, stop func()) {
	sigc := make(chan os.Signal, 4)
	reg := make(chan struct{})
	go func() {
		defer close(reg)
		signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	}()
	out := make(chan string, 4)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		seen := 0
		for {
			select {
			case <-done:
				return
			case s := <-sigc:
				seen++
				if seen > 1 || pty {
					cancel(fmt.Errorf("interrupted by %v", s))
					continue
				}
				select {
				case out <- wireSignal(s):
				default:
				}
			}
		}
	}()
	return out, reg, func() { close(done); <-finished; <-reg }
}

// heldWriter holds its first write until the until channel is closed, then
// writes straight through.
type heldWriter struct {
	w     io.Writer
	until <-chan struct{}
	open  atomic.Bool
}

func (h *heldWriter) Write(p []byte) (int, error) {
	if !h.open.Load() {
		<-h.until
		h.open.Store(true)
	}
	return h.w.Write(p)
}

// wireSignal names a local signal as the protocol does (no "SIG").
func wireSignal(s os.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "INT"
	case syscall.SIGHUP:
		return "HUP"
	case syscall.SIGQUIT:
		return "QUIT"
	}
	return "TERM"
}
