package server

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rexec-dev/rexec/internal/account"
	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/jobs"
	"github.com/rexec-dev/rexec/internal/metrics"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/session"
	"github.com/rexec-dev/rexec/internal/utmp"
)

// Defaults for Config's zero values (docs/CLI.md §8).
const (
	// DefaultLoginGrace is the absolute time from accept to authenticated
	// (TLS handshake and hello), like OpenSSH's LoginGraceTime.
	DefaultLoginGrace = 20 * time.Second
	// DefaultKillGrace is how long a session's tree gets between SIGTERM
	// and SIGKILL when the server ends it.
	DefaultKillGrace = session.DefaultGrace
)

// Config configures a Server. HostKey is required; every other zero value
// means the documented default.
type Config struct {
	HostKey *auth.Identity
	// AuthorizedKeysPath is read at New and by Reload, and again whenever
	// it or a directory above it changes; a missing file authorizes
	// nobody, and so does a file that fails StrictModes (fail closed).
	AuthorizedKeysPath string
	// AcceptEnv lists the client environment variables (patterns with '*'
	// and '?', as sshd's AcceptEnv) that a restricted key may set; nil
	// means DefaultAcceptEnv. Variables in docs/SECURITY.md's never list
	// are refused for such keys whatever this says; an unrestricted key
	// may set any variable. See CheckAcceptEnv.
	AcceptEnv []string
	// AuthorizedKeysFiles are where an account's keys are, as sshd's
	// AuthorizedKeysFile: patterns with %h (home), %u (name), %U (uid);
	// nil means DefaultAuthorizedKeysFiles. A pattern without %h is the
	// administrator's: root must own it. The daemon's own account reads
	// AuthorizedKeysPath in place of the %h patterns.
	AuthorizedKeysFiles []string
	// PermitRoot is PermitRootAdminKeys (also for "") or PermitRootNo.
	PermitRoot string
	// AccountPolicy is allow_users, deny_users, allow_groups and
	// deny_groups; the zero value admits every account.
	AccountPolicy account.Policy
	// AccountDB names the account databases; the zero value is the
	// system's.
	AccountDB  account.DB
	Logger     *slog.Logger
	LoginGrace time.Duration
	KillGrace  time.Duration
	// Software is sent in hello, e.g. "rexec/1.0".
	Software string

	// Pre-authentication defences (docs/CLI.md §8). Zero values mean the
	// defaults: DefaultStartups, DefaultPerSourceMax (negative: no
	// per-source cap), and Penalties' documented defaults.
	MaxStartups  Startups
	PerSourceMax int
	Penalties    Penalties

	// KeepaliveInterval is how often an authenticated connection with no
	// session is pinged; a peer that vanished is dropped within 3
	// intervals of its last sign of life, during a session too (default
	// 15 s, so within 45 s; see deadpeer.go). A peer that is alive but
	// does not read keeps its session.
	KeepaliveInterval time.Duration
	// IdleTimeout closes an authenticated connection with no session for
	// this long (default DefaultIdleTimeout).
	IdleTimeout time.Duration
	// MaxSessions bounds sessions running at once on the server (default
	// DefaultMaxSessions); MaxSessionsPerKey per client key (0: no bound).
	MaxSessions       int
	MaxSessionsPerKey int
	// NoResumption stops the server issuing TLS session tickets, so that
	// every connection is a full handshake in which the client signs
	// (PROTOCOL.md §1.2). Resumed connections are authorized against the
	// current authorized_keys all the same; this is for operators who
	// want each connection to prove possession of the key itself.
	NoResumption bool

	// Audit, when non-nil, gets a start and an end record of every session
	// and refusal; a session whose start record cannot be written is
	// refused (fail closed). The caller opens and closes it.
	Audit *audit.Log
	// AuditRedact are the environment names (globs, '*' any run, any
	// case) whose values the audit log holds only as a SHA-256
	// (audit.RedactEnv); empty means audit.DefaultRedact.
	AuditRedact []string
	// Metrics, when non-nil, is updated as connections and sessions come
	// and go; nil costs nothing.
	Metrics *metrics.Metrics

	// utmp names the utmp and wtmp files terminal sessions are recorded
	// in; the zero value is the system's (tests use their own).
	utmp utmp.Files

	// Jobs, when non-nil, keeps detached jobs (PROTOCOL.md §9): the
	// server announces FeatureJobs and runs exec with detach. The caller
	// opens it (jobs.Open) and the server never closes it.
	Jobs *jobs.Store

	// ResumeWindow is how long a resumable session (PROTOCOL.md §9.5)
	// whose connection dropped waits for its client before it is ended
	// as connection_lost (default DefaultResumeWindow). ResumeBuffer is
	// how many output bytes per stream it keeps unacknowledged before
	// the command is paused (default DefaultResumeBuffer).
	ResumeWindow time.Duration
	ResumeBuffer int

	// uncappedProbes (tests) leaves the kernel's window-probe backoff
	// uncapped, as on Linux before 6.15 (deadpeer.go).
	uncappedProbes bool
}

// Defaults for the after-authentication limits of Config.
const (
	DefaultKeepaliveInterval = 15 * time.Second
	DefaultIdleTimeout       = 30 * time.Minute
	DefaultMaxSessions       = 8192
	// DefaultResumeWindow covers a laptop lid closed and opened, a NAT
	// rebinding, a Wi-Fi hand-over; a client gone for longer has
	// likely gone for good.
	DefaultResumeWindow = 60 * time.Second
	// DefaultResumeBuffer is a few times the bandwidth-delay product of
	// a fast link, so that acknowledgements never throttle a stream,
	// and small enough to hold for thousands of sessions.
	DefaultResumeBuffer = 4 << 20
	// minResumeBuffer: room for one bulk read, so a stream can always
	// move.
	minResumeBuffer = bulkReadSize
	// keepaliveMisses is how many intervals of silence drop a peer.
	keepaliveMisses = 3
)

// withDefaults checks cfg and fills its zero values with the documented
// defaults, as New uses it.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.HostKey == nil {
		return cfg, errors.New("server: no host key")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.LoginGrace <= 0 {
		cfg.LoginGrace = DefaultLoginGrace
	}
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = DefaultKillGrace
	}
	if cfg.Software == "" {
		cfg.Software = "rexec"
	}
	if cfg.KeepaliveInterval <= 0 {
		cfg.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.ResumeWindow <= 0 {
		cfg.ResumeWindow = DefaultResumeWindow
	}
	if cfg.ResumeBuffer <= 0 {
		cfg.ResumeBuffer = DefaultResumeBuffer
	}
	cfg.ResumeBuffer = max(cfg.ResumeBuffer, minResumeBuffer)
	if cfg.AcceptEnv == nil {
		cfg.AcceptEnv = DefaultAcceptEnv
	}
	if err := CheckAcceptEnv(cfg.AcceptEnv); err != nil {
		return cfg, fmt.Errorf("server: %w", err)
	}
	if cfg.AuthorizedKeysFiles == nil {
		cfg.AuthorizedKeysFiles = DefaultAuthorizedKeysFiles
	}
	if err := CheckAuthorizedKeysFiles(cfg.AuthorizedKeysFiles); err != nil {
		return cfg, fmt.Errorf("server: %w", err)
	}
	switch cfg.PermitRoot {
	case "":
		cfg.PermitRoot = PermitRootAdminKeys
	case PermitRootAdminKeys, PermitRootNo:
	default:
		return cfg, fmt.Errorf("server: permit_root %q: want %s or %s", cfg.PermitRoot, PermitRootNo, PermitRootAdminKeys)
	}
	p := cfg.AccountPolicy
	for _, l := range [][]string{p.AllowUsers, p.DenyUsers, p.AllowGroups, p.DenyGroups} {
		if err := account.CheckPatterns(l); err != nil {
			return cfg, fmt.Errorf("server: %w", err)
		}
	}
	return cfg, nil
}

// features is what the server's hello announces (PROTOCOL.md §4.1).
func (s *Server) features() []string {
	if s.cfg.Jobs == nil {
		return []string{protocol.FeatureResume}
	}
	return []string{protocol.FeatureJobs, protocol.FeatureResume}
}

// Reconfigure applies the limits of cfg that can change while the server
// runs (SIGHUP): MaxStartups, PerSourceMax, Penalties, MaxSessions and
// MaxSessionsPerKey, with the zero values meaning the defaults, as in New.
// Everything else in cfg is ignored: it takes effect only in New.
func (s *Server) Reconfigure(cfg Config) {
	s.gate.reconfigure(cfg.MaxStartups, cfg.PerSourceMax, cfg.Penalties)
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	s.running.setLimits(cfg.MaxSessions, cfg.MaxSessionsPerKey)
}
