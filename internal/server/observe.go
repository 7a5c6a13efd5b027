package server

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
	"sync"
	"time"

	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/metrics"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/session"
)

// errAuditFailed refuses sessions when the audit log cannot be written:
// an unaudited session must not run (fail closed).
var errAuditFailed = errors.New("the audit log cannot be written; the server refuses new sessions")

// Session kinds in audit records and metrics.
const (
	kindExec  = "exec"
	kindShell = "shell"
	// kindSubsystem is an exec naming a subsystem (sftp).
	kindSubsystem = "subsystem"
	kindAuth      = "auth" // a refused authentication: one end record, no session
)

// sessionAudit is the audit and metrics side of one session: the start
// record, byte counts and output hashes while it runs, and the end record.
// The zero value records nothing; methods are safe for concurrent use.
type sessionAudit struct {
	log   *audit.Log
	m     *metrics.Metrics
	base  audit.Record // the start record, repeated in the end record
	start time.Time

	mu             sync.Mutex // guards the fields below
	in, out        int64
	stdout, stderr hash.Hash // nil without an audit log: hashing costs CPU
	failure        string    // a file request's first failure (failed)
}

// kindOf names what an exec request is, for the audit log.
func kindOf(req protocol.Exec) string {
	if req.Subsystem != "" {
		return kindSubsystem
	}
	if req.Command == "" && len(req.Argv) == 0 {
		return kindShell
	}
	return kindExec
}

// beginAudit writes the start record of a session; an error means the
// session must be refused. req is the request as it will run (or, when
// denied, as it was asked): the start record holds what it runs with,
// namely the key's options in force, the environment it sets on top of
// the account's (the client's variables, the key's environment= and
// REXEC_ORIGINAL_COMMAND; values of names in Config.AuditRedact hashed),
// the working directory and the terminal request.
func (c *serverConn) beginAudit(id, kind string, req protocol.Exec) (*sessionAudit, error) {
	a := &sessionAudit{log: c.s.cfg.Audit, m: c.s.cfg.Metrics, start: time.Now(),
		base: audit.Record{Session: id, Fingerprint: c.key.Fingerprint(), Comment: c.key.Comment, User: c.acct.name,
			Remote: c.remote, Kind: kind, Argv: req.Argv, Command: req.Command}}
	if a.log == nil {
		return a, nil
	}
	a.stdout, a.stderr = sha256.New(), sha256.New()
	r := a.base
	r.Event = audit.EventStart
	r.Options, r.Env, r.Cwd, r.PTY = c.auditOptions(), audit.RedactEnv(req.Env, c.s.auditRedact()), req.Cwd, req.PTY
	if err := a.log.Append(r); err != nil {
		c.log.Error("audit log write failed", "err", err)
		return nil, errAuditFailed
	}
	return a, nil
}

// denied records a refused request as a start and an end record.
func (c *serverConn) auditDenied(kind string, req protocol.Exec, rule string) {
	if c.s.cfg.Audit == nil {
		c.s.cfg.Metrics.SessionEnded(kind, "denied")
		return
	}
	a, err := c.beginAudit(session.NewID(), kind, req)
	if err != nil {
		return
	}
	a.end(audit.Record{Outcome: "denied", DeniedRule: ruleName(rule), Reason: rule}, c)
}

// auditFileDenied records a file request (stat, put, get) refused by the
// key's no-file-transfer option as a start and an end record naming the
// rule, as auditDenied does for exec; the refusal itself is sent by the
// transfer code. It runs once the request holds the claim, so a request
// refused as busy is not recorded.
func (c *serverConn) auditFileDenied(m protocol.Message) {
	if !c.key.Options.NoFileTransfer {
		return
	}
	reason := errNoFileTransfer.Err.Error()
	a := c.newFileAudit(m)
	c.log.Info("file request denied", "kind", m.Type(), "path", a.base.Path, "rule", reason)
	_ = a.writeStart(c) // the request is refused either way
	a.end(audit.Record{Outcome: "denied", DeniedRule: ruleName(reason), Reason: reason}, c)
}

// auditRefusedKey records a connection refused at authentication (the key
// is unknown, or its from= excludes the address) as a denied "auth" record.
func (c *serverConn) auditRefusedKey(pub ed25519.PublicKey, user, rule, reason string) {
	if c.s.cfg.Audit == nil {
		return
	}
	r := audit.Record{Event: audit.EventEnd, Session: session.NewID(), Fingerprint: auth.Fingerprint(pub),
		User: user, Remote: c.remote, Kind: kindAuth, Outcome: "denied", DeniedRule: rule, Reason: reason}
	if err := c.s.cfg.Audit.Append(r); err != nil {
		c.log.Error("audit log write failed", "err", err)
	}
}

// auditRedact are the environment names whose values the audit log
// hashes (Config.AuditRedact).
func (s *Server) auditRedact() []string {
	if len(s.cfg.AuditRedact) == 0 {
		return audit.DefaultRedact
	}
	return s.cfg.AuditRedact
}

// auditOptions is the key's authorized_keys options in force, as the
// audit log records them: the environment= values of redacted names are
// hashed there too, as in the environment they set.
func (c *serverConn) auditOptions() string {
	o := c.key.Options
	if len(o.Environment) > 0 {
		env := make([]string, len(o.Environment))
		for i, kv := range o.Environment {
			k, v, _ := strings.Cut(kv, "=")
			env[i] = audit.RedactEnv(map[string]string{k: v}, c.s.auditRedact())[0]
		}
		o.Environment = env
	}
	return o.String()
}

// ruleName is the option named at the start of a denial reason.
func ruleName(reason string) string {
	rule, _, _ := strings.Cut(reason, ":")
	return rule
}

// output counts (and, with an audit log, hashes) bytes sent to the client.
func (a *sessionAudit) output(stream string, b []byte) {
	a.m.Bytes(metrics.DirOut, int64(len(b)))
	a.mu.Lock()
	defer a.mu.Unlock()
	a.out += int64(len(b))
	if a.stdout == nil {
		return
	}
	if stream == protocol.TypeStderr {
		a.stderr.Write(b)
	} else {
		a.stdout.Write(b)
	}
}

// input counts bytes received from the client.
func (a *sessionAudit) input(n int) {
	a.m.Bytes(metrics.DirIn, int64(n))
	a.mu.Lock()
	a.in += int64(n)
	a.mu.Unlock()
}

// end writes the end record; r carries the outcome fields.
func (a *sessionAudit) end(r audit.Record, c *serverConn) {
	a.m.SessionEnded(a.base.Kind, r.Outcome)
	if a.log == nil {
		return
	}
	a.mu.Lock()
	r.BytesIn, r.BytesOut = a.in, a.out
	if a.stdout != nil && r.Outcome != "denied" {
		r.StdoutSHA, r.StderrSHA = hex.EncodeToString(a.stdout.Sum(nil)), hex.EncodeToString(a.stderr.Sum(nil))
	}
	a.mu.Unlock()
	r.Event = audit.EventEnd
	r.Session, r.Fingerprint, r.Comment, r.Remote, r.Kind = a.base.Session, a.base.Fingerprint, a.base.Comment, a.base.Remote, a.base.Kind
	r.User = a.base.User
	r.Argv, r.Command, r.Path = a.base.Argv, a.base.Command, a.base.Path
	r.DurationMS = time.Since(a.start).Milliseconds()
	if err := a.log.Append(r); err != nil {
		c.log.Error("audit log write failed", "err", err)
	}
}

// exitRecord turns an exit message (or its absence) into the end record's
// outcome fields.
func exitRecord(e protocol.Exit, cause error) audit.Record {
	switch {
	case cause != nil:
		return audit.Record{Outcome: "connection_lost", Reason: cause.Error()}
	case e.TimedOut:
		return audit.Record{Outcome: "timed_out", ExitCode: audit.Code(e.Code)}
	case e.Signal != "":
		return audit.Record{Outcome: "signaled", Signal: e.Signal, ExitCode: audit.Code(e.Code)}
	}
	return audit.Record{Outcome: "exited", ExitCode: audit.Code(e.Code), Reason: e.Error}
}

// auditRevoked records a request refused because the connection's key was
// revoked, as a denied "auth" record naming the request.
func (c *serverConn) auditRevoked(m protocol.Message, reason string) {
	if c.s.cfg.Audit == nil {
		return
	}
	r := audit.Record{Event: audit.EventEnd, Session: session.NewID(), Fingerprint: c.key.Fingerprint(),
		Comment: c.key.Comment, User: c.acct.name, Remote: c.remote, Kind: kindAuth, Outcome: "denied",
		DeniedRule: "authorized_keys", Reason: reason + " (request: " + m.Type() + ")"}
	if err := c.s.cfg.Audit.Append(r); err != nil {
		c.log.Error("audit log write failed", "err", err)
	}
}
