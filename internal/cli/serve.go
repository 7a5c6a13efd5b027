package cli

import (
	"context"
	"errors"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rexec-dev/rexec/internal/config"
	"github.com/rexec-dev/rexec/internal/daemon"
	"github.com/rexec-dev/rexec/internal/outcome"
)

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
		Example: `  rexec serve                                   # zero configuration, 127.0.0.1:7022
  rexec serve --listen 0.0.0.0:7022 --audit-log /var/log/rexec/audit.log
  rexec serve --config /etc/rexec/config.toml --check-config`,
		Long: "Run the rexec daemon. Every setting can also be given in a TOML config file\n" +
			"(--config, default HOME/config.toml if it exists) with the flag's name in\n" +
			"snake_case; flags override the file. Penalty and SYN-watch tuning is file-only.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), g, o, cmd.Flags(), env)
		},
	}
	f := cmd.Flags()
	s, def := &o.file, daemon.Defaults()
	f.StringVar(&o.configPath, "config", "", "TOML config file (default HOME/config.toml when it exists)")
	f.BoolVar(&o.checkConfig, "check-config", false, "check the configuration and exit")
	f.BoolVar(&o.stdio, "stdio", false, "serve one connection on stdin/stdout (like sshd -i)")
	f.StringArrayVar(&s.Listen, "listen", nil, "address to listen on, repeatable (default "+daemon.DefaultListen+")")
	f.StringVar(&s.LegacyListen, "legacy-listen", "", "also serve the lesson's plain protocol on ADDR (plaintext, no keys; loopback only)")
	f.BoolVar(&s.LegacyAllowRemote, "legacy-allow-remote", false, "allow --legacy-listen on a non-loopback address (needs --legacy-allow-from)")
	f.StringArrayVar(&s.LegacyAllowUsers, "legacy-allow-user", nil, "user NAME or UID whose loopback clients the legacy listener serves, repeatable (default: the daemon's own)")
	f.StringArrayVar(&s.LegacyAllowFrom, "legacy-allow-from", nil, "CIDR of non-loopback clients the legacy listener serves, repeatable")
	f.StringVar(&s.LegacyEncoding, "legacy-encoding", def.LegacyEncoding, "legacy output: utf-8 (bytes unchanged) or gbk (for the lesson's client)")
	f.DurationVar(&s.Grace, "grace", def.Grace, "on SIGTERM, how long sessions may finish before they are killed")
	f.StringVar(&s.LogFormat, "log-format", def.LogFormat, "log format: text, json, or auto (text on a terminal)")
	f.StringVar(&s.Metrics, "metrics", "", "serve Prometheus metrics on ADDR (/metrics)")
	f.StringVar(&s.AuditLog, "audit-log", "", "append a tamper-evident audit log (JSON lines) to FILE")
	f.StringVar(&s.AuditSync, "audit-sync", def.AuditSync, "fsync the audit log after every record, at session end, or never")
	f.StringArrayVar(&s.AcceptEnv, "accept-env", def.AcceptEnv,
		"client variable a restricted key may set (* and ? wildcards), repeatable; replaces the default list")
	f.StringArrayVar(&s.AuditRedact, "audit-redact", def.AuditRedact,
		"env names whose values the audit log holds only as a SHA-256 (glob, * any run, any case); repeatable, replaces the default")
	f.DurationVar(&s.AuditCheckpoint, "audit-checkpoint", 0,
		"append a checkpoint signed with the host key at this interval while records are written (0: none)")
	f.DurationVar(&s.LoginGrace, "login-grace", def.LoginGrace, "time from accept to authenticated, absolute")
	f.StringVar(&s.MaxStartups, "max-startups", def.MaxStartups, "unauthenticated connections: start:rate:full random early drop")
	f.IntVar(&s.PerSourceMax, "per-source-max", def.PerSourceMax, "unauthenticated connections per source /32 or /64 (-1: no cap)")
	f.DurationVar(&s.IdleTimeout, "idle-timeout", def.IdleTimeout, "close a connection with no session for this long")
	f.DurationVar(&s.Keepalive, "keepalive", def.Keepalive, "ping interval; a peer silent for 3 is dropped")
	f.IntVar(&s.MaxSessions, "max-sessions", def.MaxSessions, "sessions running at once")
	f.IntVar(&s.MaxSessionsPerKey, "max-sessions-per-key", 0, "sessions running at once per client key (0: no limit)")
	f.BoolVar(&s.NoResumption, "no-resumption", false, "issue no TLS session tickets: every connection is a full handshake")
	f.IntVar(&s.JobSpoolMax, "job-spool-max", def.JobSpoolMax, "bytes of output a detached job keeps (both streams); older output is dropped")
	f.IntVar(&s.JobsSpoolTotal, "jobs-spool-total", def.JobsSpoolTotal, "bytes all detached jobs' spools may hold; a new job past it is refused")
	f.DurationVar(&s.JobTTL, "job-ttl", def.JobTTL, "how long a finished detached job stays readable")
	f.DurationVar(&s.ResumeWindow, "resume-window", def.ResumeWindow, "how long a dropped resumable session waits for its client")
	f.IntVar(&s.ResumeBuffer, "resume-buffer", def.ResumeBuffer, "unacknowledged output bytes per stream a resumable session keeps before the command is paused")
	f.StringArrayVar(&s.Penalty.Exempt, "penalty-exempt", nil, "address or CIDR never penalised, repeatable")
	return cmd
}

// serve runs the daemon (daemon.Run) with the home, the config file and
// the flags the user set: unusable settings exit 2, a daemon that could
// not run exits 1.
func serve(ctx context.Context, g *globals, o *serveOpts, flags *pflag.FlagSet, env Env) error {
	h, err := g.resolveHome()
	if err != nil {
		return err
	}
	err = daemon.Run(ctx, daemon.Options{
		Home:            h,
		ConfigPath:      o.configPath,
		Flags:           config.Flags{Values: o.file, Set: flags.Changed},
		CheckOnly:       o.checkConfig,
		Stdio:           o.stdio,
		Stdout:          env.Stdout,
		Stderr:          env.Stderr,
		Software:        "rexec/" + version(),
		IdentityComment: defaultComment(),
	})
	var bad *daemon.SettingsError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &bad):
		return fail(outcome.ExitUsage, err)
	}
	return fail(outcome.ExitError, err)
}
