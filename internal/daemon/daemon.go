// Package daemon is `rexec serve` as a library: from the settings (the
// config file with the command line's flags over it) and the home
// directory to a running daemon and back. Run prepares the home (host
// key, first-run identity), binds the listeners (rexec and the lesson's
// legacy protocol), starts server.Server and the optional parts (metrics
// and the SYN-flood watch, the legacy listener, the audit head watcher),
// clears the session cgroups an earlier daemon left, becomes the
// subreaper, tells systemd its state (sdnotify), reloads on SIGHUP and
// drains on SIGTERM or SIGINT.
//
// It reads no flags and no environment of its own: cli parses the
// command line into Options, and tests run a daemon in-process with
// their own stdout, stderr and logger.
package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/config"
	"github.com/rexec-dev/rexec/internal/jobs"
	"github.com/rexec-dev/rexec/internal/server"
	"github.com/rexec-dev/rexec/internal/session"
)

// DefaultPort is rexec's TCP port (docs/CLI.md §2), the client's default
// too (client.DefaultPort; a test holds them equal): the hint the daemon
// prints leaves it out.
const DefaultPort = 7022

// DefaultListen is where a daemon listens when no address is set
// (docs/CLI.md §8): loopback only, so a first run exposes nothing.
const DefaultListen = "127.0.0.1:7022"

// DefaultDrainGrace is how long running sessions may finish after SIGTERM
// before their process trees are killed (docs/CLI.md §8).
const DefaultDrainGrace = 30 * time.Second

// Defaults are the settings of a daemon where neither the config file nor
// the command line sets one: the defaults of `rexec serve`'s flags, and
// so the usual start of Options.Flags.Values. Listen is empty, meaning
// DefaultListen.
func Defaults() config.ServerFile {
	return config.ServerFile{
		LegacyEncoding: "utf-8",
		Grace:          DefaultDrainGrace,
		LogFormat:      "auto",
		AuditSync:      "every",
		AuditRedact:    slices.Clone(audit.DefaultRedact),
		AcceptEnv:      slices.Clone(server.DefaultAcceptEnv),
		LoginGrace:     server.DefaultLoginGrace,
		MaxStartups:    server.DefaultStartups.String(),
		PerSourceMax:   server.DefaultPerSourceMax,
		IdleTimeout:    server.DefaultIdleTimeout,
		Keepalive:      server.DefaultKeepaliveInterval,
		MaxSessions:    server.DefaultMaxSessions,
		JobSpoolMax:    jobs.DefaultJobMax,
		JobsSpoolTotal: jobs.DefaultTotalMax,
		JobTTL:         jobs.DefaultTTL,
		ResumeWindow:   server.DefaultResumeWindow,
		ResumeBuffer:   server.DefaultResumeBuffer,
	}
}

// Options are what Run needs. Only Home is required.
type Options struct {
	// Home holds the host key, authorized_keys, the known_hosts the
	// daemon pins its own key in, and by default the config file.
	Home config.Home
	// ConfigPath is the config file; "" is Home's config.toml when it
	// exists. It is read again on every SIGHUP.
	ConfigPath string
	// Flags are the command line's settings, laid over the file's at
	// start and on every reload (config.Flags.Over). Their Values
	// normally start from Defaults(): a zero setting left by both the
	// file and the flags is the server's zero, and a zero Grace kills
	// sessions at once on SIGTERM.
	Flags config.Flags
	// CheckOnly checks the settings, writes "configuration ok" to Stdout
	// and returns without touching the home or binding anything.
	CheckOnly bool
	// Stdio serves one connection on the process's stdin and stdout
	// (as sshd -i) instead of listening.
	Stdio bool
	// Stdout and Stderr receive what is meant for the person who started
	// the daemon: "configuration ok", the addresses it serves on and how
	// to connect. nil discards.
	Stdout, Stderr io.Writer
	// Logger receives the daemon's log; nil builds one on Stderr in the
	// settings' log_format (auto: text on a terminal, else JSON).
	Logger *slog.Logger
	// Software is sent in hello, e.g. "rexec/1.2.3"; "" is the server's
	// default.
	Software string
	// IdentityComment is the comment of the identity a first run creates
	// for the local user (prepareHome); "" is "rexec@HOSTNAME".
	IdentityComment string
}

// SettingsError is returned by Run for settings it cannot use (the
// config file, a flag, a user that does not exist), as opposed to a
// failure to run (the host key, an address in use): rexec serve exits
// with status 2 for it, 1 for the others. Its message is its Err's.
type SettingsError struct{ Err error }

func (e *SettingsError) Error() string { return e.Err.Error() }

// Unwrap returns the error that made the settings unusable.
func (e *SettingsError) Unwrap() error { return e.Err }

// Run is one run of the daemon: it returns once the daemon stopped (ctx
// ended, SIGTERM or SIGINT and the drain, a listener failed, the stdio
// connection ended) with every goroutine it started finished and every
// file and listener it opened closed. A clean stop is nil.
func Run(ctx context.Context, o Options) error {
	// First, before anything is started: what the daemon inherited
	// stays out of every session (docs/SECURITY.md, "Process hygiene").
	if err := session.CloseInheritedOnExec(); err != nil {
		return fmt.Errorf("marking inherited descriptors close-on-exec: %w", err)
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	settings, path, err := o.Home.LoadServerSettings(o.ConfigPath, o.Flags)
	if err != nil {
		return &SettingsError{err}
	}
	cfg, err := serverConfig(settings, o.Software)
	if err != nil {
		return &SettingsError{err}
	}
	sync, err := auditSync(settings.AuditSync)
	if err != nil {
		return &SettingsError{err}
	}
	ls, err := legacyServer(settings)
	if err != nil {
		return &SettingsError{err}
	}
	if o.CheckOnly {
		fmt.Fprintln(o.Stdout, "configuration ok")
		return nil
	}
	log := o.Logger
	if log == nil {
		if log, err = newLogger(settings.LogFormat, o.Stderr); err != nil {
			return &SettingsError{err}
		}
	}
	hostKey, err := prepareHome(o.Home, log, o.IdentityComment)
	if err != nil {
		return err
	}
	cfg.HostKey, cfg.Logger, cfg.AuthorizedKeysPath = hostKey, log, o.Home.Path(config.AuthorizedKeysFile)
	if settings.AuditLog != "" {
		if cfg.Audit, err = audit.OpenWith(settings.AuditLog, audit.Options{Sync: sync}); err != nil {
			return err
		}
		defer cfg.Audit.Close()
	}
	d := &daemon{settings: settings, configPath: path, flags: o.Flags, software: o.Software, log: log,
		stderr: o.Stderr, home: o.Home, hostKey: hostKey, legacy: ls}
	return d.run(ctx, cfg, o.Stdio)
}
