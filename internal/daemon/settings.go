package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strconv"

	"golang.org/x/term"

	"github.com/rexec-dev/rexec/internal/account"
	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/config"
	"github.com/rexec-dev/rexec/internal/legacy"
	"github.com/rexec-dev/rexec/internal/server"
)

// serverConfig turns settings into the server's Config (without the host
// key, logger and audit log, which Run adds).
func serverConfig(f config.ServerFile, software string) (server.Config, error) {
	cfg := server.Config{LoginGrace: f.LoginGrace, PerSourceMax: f.PerSourceMax, IdleTimeout: f.IdleTimeout,
		KeepaliveInterval: f.Keepalive, MaxSessions: f.MaxSessions, MaxSessionsPerKey: f.MaxSessionsPerKey,
		NoResumption: f.NoResumption, AuditRedact: f.AuditRedact, AcceptEnv: f.AcceptEnv,
		Software: software, PermitRoot: f.Accounts.PermitRoot, AuthorizedKeysFiles: f.Accounts.AuthorizedKeysFiles,
		AccountPolicy: account.Policy{AllowUsers: f.Accounts.AllowUsers, DenyUsers: f.Accounts.DenyUsers,
			AllowGroups: f.Accounts.AllowGroups, DenyGroups: f.Accounts.DenyGroups},
		ResumeWindow: f.ResumeWindow, ResumeBuffer: f.ResumeBuffer}
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

// auditSync is the audit log's fsync policy named by audit_sync.
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

// legacyServer checks the legacy listener's settings and returns its
// server, or nil without --legacy-listen. A non-loopback address needs
// --legacy-allow-remote and a source list; users are resolved to uids
// now, so a misspelt name stops the daemon at start.
func legacyServer(s config.ServerFile) (*legacy.Server, error) {
	if s.LegacyListen == "" {
		return nil, nil
	}
	if err := legacy.CheckListenAddr(s.LegacyListen, s.LegacyAllowRemote); err != nil {
		return nil, fmt.Errorf("%w (--legacy-allow-remote)", err)
	}
	ls := &legacy.Server{Encoding: s.LegacyEncoding}
	for _, e := range s.LegacyAllowFrom {
		pfx, err := config.ParseSourcePrefix(e)
		if err != nil {
			return nil, fmt.Errorf("legacy_allow_from: %w", err)
		}
		ls.AllowFrom = append(ls.AllowFrom, pfx)
	}
	if err := legacy.CheckAllowFrom(s.LegacyListen, ls.AllowFrom); err != nil {
		return nil, fmt.Errorf("%w (--legacy-allow-from CIDR, repeatable)", err)
	}
	for _, name := range s.LegacyAllowUsers {
		uid, err := lookupUID(name)
		if err != nil {
			return nil, fmt.Errorf("legacy_allow_users: %w", err)
		}
		ls.AllowUIDs = append(ls.AllowUIDs, uid)
	}
	return ls, nil
}

// lookupUID resolves a user name or a numeric uid to a uid.
func lookupUID(name string) (int, error) {
	if uid, err := strconv.ParseUint(name, 10, 32); err == nil {
		return int(uid), nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", name, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return 0, fmt.Errorf("%q: uid %q is not a number on this system", name, u.Uid)
	}
	return uid, nil
}

// newLogger builds the daemon's slog logger on w: text on a terminal and
// JSON otherwise (format auto or ""), or as format says.
func newLogger(format string, w io.Writer) (*slog.Logger, error) {
	switch format {
	case "auto", "":
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	case "text", "json":
	default:
		return nil, fmt.Errorf("--log-format must be text, json or auto, not %q", format)
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, nil)), nil
	}
	return slog.New(slog.NewJSONHandler(w, nil)), nil
}
