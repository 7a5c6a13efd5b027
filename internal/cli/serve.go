package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/config"
	"github.com/rexec-dev/rexec/internal/server"
	"github.com/rexec-dev/rexec/internal/session"
)

// DefaultListen is where `rexec serve` listens without --listen (docs/CLI.md §8):
// loopback only, so a first run exposes nothing.
const DefaultListen = "127.0.0.1:7022"

// DefaultDrainGrace is how long running sessions may finish after SIGTERM
// before their process trees are killed (docs/CLI.md §8).
const DefaultDrainGrace = 30 * time.Second

// serveOpts are the flags of `rexec serve`. Settings that the config file
// also holds are parsed into file and laid over it (config.Flags).
type serveOpts struct {
	file        config.ServerFile
	configPath  string
	checkConfig bool
	stdio       bool
}

func newServeCmd(g *globals, env Env) *cobra.Command {
	o := &serveOpts{}
	cmd := &cobra.Command{
		Use:   "serve [--listen ADDR]...",
		Short: "Run the rexec daemon",
		Long: "Run the rexec daemon. Every setting can also be given in a TOML config file\n" +
			"(--config, default HOME/config.toml if it exists) with the flag's name in\n" +
			"snake_case; flags override the file. Penalty and SYN-watch tuning is file-only.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), g, o, cmd.Flags(), env)
		},
	}
	f := cmd.Flags()
	s := &o.file
	f.StringVar(&o.configPath, "config", "", "TOML config file (default HOME/config.toml when it exists)")
	f.BoolVar(&o.checkConfig, "check-config", false, "check the configuration and exit")
	f.BoolVar(&o.stdio, "stdio", false, "serve one connection on stdin/stdout (like sshd -i)")
	f.StringArrayVar(&s.Listen, "listen", nil, "address to listen on, repeatable (default "+DefaultListen+")")
	f.StringVar(&s.LegacyListen, "legacy-listen", "", "also serve the lesson's plain protocol on ADDR (plaintext, no keys; loopback only)")
	f.BoolVar(&s.LegacyAllowRemote, "legacy-allow-remote", false, "allow --legacy-listen on a non-loopback address (needs --legacy-allow-from)")
	f.StringArrayVar(&s.LegacyAllowUsers, "legacy-allow-user", nil, "user NAME or UID whose loopback clients the legacy listener serves, repeatable (default: the daemon's own)")
	f.StringArrayVar(&s.LegacyAllowFrom, "legacy-allow-from", nil, "CIDR of non-loopback clients the legacy listener serves, repeatable")
	f.StringVar(&s.LegacyEncoding, "legacy-encoding", "utf-8", "legacy output: utf-8 (bytes unchanged) or gbk (for the lesson's client)")
	f.DurationVar(&s.Grace, "grace", DefaultDrainGrace, "on SIGTERM, how long sessions may finish before they are killed")
	f.StringVar(&s.LogFormat, "log-format", "auto", "log format: text, json, or auto (text on a terminal)")
	f.StringVar(&s.Metrics, "metrics", "", "serve Prometheus metrics on ADDR (/metrics)")
	f.StringVar(&s.AuditLog, "audit-log", "", "append a tamper-evident audit log (JSON lines) to FILE")
	f.StringVar(&s.AuditSync, "audit-sync", "every", "fsync the audit log after every record, at session end, or never")
	f.StringArrayVar(&s.AcceptEnv, "accept-env", server.DefaultAcceptEnv,
		"client variable a restricted key may set (* and ? wildcards), repeatable; replaces the default list")
	f.StringArrayVar(&s.AuditRedact, "audit-redact", audit.DefaultRedact,
		"env names whose values the audit log holds only as a SHA-256 (glob, * any run, any case); repeatable, replaces the default")
	f.DurationVar(&s.AuditCheckpoint, "audit-checkpoint", 0,
		"append a checkpoint signed with the host key at this interval while records are written (0: none)")
	f.DurationVar(&s.LoginGrace, "login-grace", server.DefaultLoginGrace, "time from accept to authenticated, absolute")
	f.StringVar(&s.MaxStartups, "max-startups", server.DefaultStartups.String(), "unauthenticated connections: start:rate:full random early drop")
	f.IntVar(&s.PerSourceMax, "per-source-max", server.DefaultPerSourceMax, "unauthenticated connections per source /32 or /64 (-1: no cap)")
	f.DurationVar(&s.IdleTimeout, "idle-timeout", server.DefaultIdleTimeout, "close a connection with no session for this long")
	f.DurationVar(&s.Keepalive, "keepalive", server.DefaultKeepaliveInterval, "ping interval; a peer silent for 3 is dropped")
	f.IntVar(&s.MaxSessions, "max-sessions", server.DefaultMaxSessions, "sessions running at once")
	f.IntVar(&s.MaxSessionsPerKey, "max-sessions-per-key", 0, "sessions running at once per client key (0: no limit)")
	f.BoolVar(&s.NoResumption, "no-resumption", false, "issue no TLS session tickets: every connection is a full handshake")
	f.StringArrayVar(&s.Penalty.Exempt, "penalty-exempt", nil, "address or CIDR never penalised, repeatable")
	return cmd
}

// flags are the daemon settings the command line gave, to lay over the
// config file's (config.Flags).
func (o *serveOpts) flags(set *pflag.FlagSet) config.Flags {
	return config.Flags{Values: o.file, Set: set.Changed}
}

// serverConfig turns settings into the server's Config.
func serverConfig(f config.ServerFile) (server.Config, error) {
	cfg := server.Config{LoginGrace: f.LoginGrace, PerSourceMax: f.PerSourceMax, IdleTimeout: f.IdleTimeout,
		KeepaliveInterval: f.Keepalive, MaxSessions: f.MaxSessions, MaxSessionsPerKey: f.MaxSessionsPerKey,
		NoResumption: f.NoResumption, AuditRedact: f.AuditRedact, AcceptEnv: f.AcceptEnv,
		Software: "rexec/" + version()}
	if f.MaxStartups != "" {
		st, err := server.ParseStartups(f.MaxStartups)
		if err != nil {
			return cfg, err
		}
		cfg.MaxStartups = st
	}
	p := f.Penalty
	cfg.Penalties = server.Penalties{AuthFail: p.AuthFailure, Grace: p.GraceExpired, NoAuth: p.ProtocolViolation,
		Min: p.Min, Max: p.Max, MaxSources: p.MaxSources}
	for _, e := range p.Exempt {
		pfx, err := config.ParseSourcePrefix(e)
		if err != nil {
			return cfg, err
		}
		cfg.Penalties.Exempt = append(cfg.Penalties.Exempt, pfx)
	}
	return cfg, nil
}

func auditSync(s string) (audit.SyncPolicy, error) {
	switch s {
	case "", "every":
		return audit.SyncEvery, nil
	case "end":
		return audit.SyncEnd, nil
	case "never":
		return audit.SyncNever, nil
	}
	return 0, fmt.Errorf("--audit-sync must be every, end or never, not %q", s)
}

func serve(ctx context.Context, g *globals, o *serveOpts, flags *pflag.FlagSet, env Env) error {
	// First, before anything is started: what the daemon inherited
	// stays out of every session (docs/SECURITY.md, "Process hygiene").
	if err := session.CloseInheritedOnExec(); err != nil {
		return fail(1, fmt.Errorf("marking inherited descriptors close-on-exec: %w", err))
	}
	h, err := g.resolveHome()
	if err != nil {
		return err
	}
	settings, path, err := h.LoadServerSettings(o.configPath, o.flags(flags))
	if err != nil {
		return fail(2, err)
	}
	cfg, err := serverConfig(settings)
	if err != nil {
		return fail(2, err)
	}
	sync, err := auditSync(settings.AuditSync)
	if err != nil {
		return fail(2, err)
	}
	ls, err := legacyServer(settings)
	if err != nil {
		return fail(2, err)
	}
	if o.checkConfig {
		fmt.Fprintln(env.Stdout, "configuration ok")
		return nil
	}
	log, err := newLogger(settings.LogFormat, env)
	if err != nil {
		return fail(2, err)
	}
	hostKey, err := prepareHome(h, log)
	if err != nil {
		return fail(1, err)
	}
	cfg.HostKey, cfg.Logger, cfg.AuthorizedKeysPath = hostKey, log, h.Path(config.AuthorizedKeysFile)
	if settings.AuditLog != "" {
		if cfg.Audit, err = audit.OpenWith(settings.AuditLog, audit.Options{Sync: sync}); err != nil {
			return fail(1, err)
		}
		defer cfg.Audit.Close()
	}
	d := &daemon{settings: settings, configPath: path, log: log, env: env, home: h, hostKey: hostKey, legacy: ls,
		flags: o.flags(flags)}
	return d.run(ctx, cfg, o.stdio)
}

// prepareHome loads or creates the host key. On the very first run, a
// home with neither a host key nor authorized_keys, it first creates the
// local user's identity if missing and authorizes it (the README's
// zero-config set-up). Never later: a regenerated host key, or an
// authorized_keys the user emptied or deleted, must not silently grant
// that identity again (docs/SECURITY.md, "Process hygiene").
func prepareHome(h config.Home, log *slog.Logger) (*auth.Identity, error) {
	first, err := firstRun(h)
	if err != nil {
		return nil, err
	}
	if first {
		// Before the host key: should this fail, the next start is
		// still a first run and tries again.
		if err := authorizeOwnIdentity(h, log); err != nil {
			return nil, err
		}
	}
	hostKey, created, err := auth.EnsureIdentity(h.Path(config.HostKeyFile), "rexec-host@"+hostname())
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	if created {
		log.Info("created host key", "path", h.Path(config.HostKeyFile), "fingerprint", auth.Fingerprint(hostKey.Public))
		if !first {
			log.Info("not the first run: the local identity is not authorized automatically (rexec authorize)",
				"authorized_keys", h.Path(config.AuthorizedKeysFile))
		}
	}
	return hostKey, nil
}

// firstRun reports whether the home has neither a host key nor an
// authorized_keys file (a symbolic link counts as a file).
func firstRun(h config.Home) (bool, error) {
	for _, name := range []string{config.HostKeyFile, config.AuthorizedKeysFile} {
		_, err := os.Lstat(h.Path(name))
		if err == nil {
			return false, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("looking for %s: %w", name, err)
		}
	}
	return true, nil
}

// listenAll binds every address, or none: a daemon half-listening would
// confuse whoever reads its log.
func listenAll(addrs []string) ([]net.Listener, error) {
	if len(addrs) == 0 {
		addrs = []string{DefaultListen}
	}
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			closeAll(lns)
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func closeAll(lns []net.Listener) {
	for _, l := range lns {
		l.Close()
	}
}

// authorizeOwnIdentity is the zero-config first run: the local user's
// identity is created if missing and authorized on this daemon.
func authorizeOwnIdentity(h config.Home, log *slog.Logger) error {
	id, created, err := auth.EnsureIdentity(h.Path(config.IdentityFile), defaultComment())
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if created {
		log.Info("created your identity", "path", h.Path(config.IdentityFile), "fingerprint", auth.Fingerprint(id.Public))
	}
	if _, err := auth.AppendAuthorizedKey(h.Path(config.AuthorizedKeysFile), id.Public, id.Comment); err != nil {
		return fmt.Errorf("authorizing your identity: %w", err)
	}
	return nil
}

// pinOwnHostKey pins the daemon's key in the local known_hosts for its
// listen addresses and localhost, where nothing is pinned yet. The key was
// read from this machine's disk, so this is no leap of faith; a different
// key already pinned is left alone (and the client will say so).
func pinOwnHostKey(h config.Home, id *auth.Identity, lns []net.Listener, log *slog.Logger) {
	kh := auth.KnownHosts{Path: h.Path(config.KnownHostsFile)}
	for _, ln := range lns {
		ta, ok := ln.Addr().(*net.TCPAddr)
		if !ok {
			continue
		}
		for _, host := range pinNames(ta.IP) {
			err := kh.Check(host, ta.Port, id.Public)
			var unknown *auth.UnknownHostError
			if !errors.As(err, &unknown) {
				continue
			}
			addr := net.JoinHostPort(host, strconv.Itoa(ta.Port))
			if err := kh.Add([]string{addr}, id.Public); err != nil {
				log.Warn("could not pin own host key", "addr", addr, "err", err)
			}
		}
	}
}

// pinNames are the names a local client will use for a listen address.
func pinNames(ip net.IP) []string {
	switch {
	case ip.IsUnspecified():
		return []string{"localhost", "127.0.0.1", "::1"}
	case ip.IsLoopback():
		return []string{"localhost", ip.String()}
	}
	return []string{ip.String()}
}

// announce tells a first-time user how to connect.
func announce(env Env, lns []net.Listener, id *auth.Identity) {
	for _, ln := range lns {
		fmt.Fprintf(env.Stderr, "rexec: serving on %s, host key %s\n", ln.Addr(), auth.Fingerprint(id.Public))
	}
	ta, _ := lns[0].Addr().(*net.TCPAddr)
	host := "localhost"
	if ta != nil && ta.Port != client.DefaultPort {
		host = net.JoinHostPort(host, strconv.Itoa(ta.Port))
	}
	fmt.Fprintf(env.Stderr, "rexec: try: rexec run %s -- uname -a\n", host)
}

// listenPorts are the TCP ports of lns, for the SYN-flood watch.
func listenPorts(lns []net.Listener) []uint16 {
	var ports []uint16
	for _, ln := range lns {
		if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil {
			ports = append(ports, ap.Port())
		}
	}
	return ports
}

// newLogger builds the daemon's slog logger on stderr.
func newLogger(format string, env Env) (*slog.Logger, error) {
	switch format {
	case "auto", "":
		format = "json"
		if f, ok := env.Stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	case "text", "json":
	default:
		return nil, fmt.Errorf("--log-format must be text, json or auto, not %q", format)
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(env.Stderr, nil)), nil
	}
	return slog.New(slog.NewJSONHandler(env.Stderr, nil)), nil
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}
