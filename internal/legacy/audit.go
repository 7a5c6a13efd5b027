package legacy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/session"
)

// kindLegacy is the kind of every audit record this listener writes.
const kindLegacy = "legacy"

// Outcomes in end records, as the TLS server names them.
const (
	outcomeExited   = "exited"
	outcomeSignaled = "signaled"
	outcomeTimedOut = "timed_out"
	outcomeFailed   = "failed"
	outcomeLost     = "connection_lost"
	outcomeDenied   = "denied"
)

// errAuditFailed ends a connection whose command could not be audited:
// an unaudited command must not run (fail closed).
var errAuditFailed = errors.New("legacy: the audit log cannot be written; the command was not run")

// commandAudit is the audit of one command: the start record, written
// before the command runs, repeated in the end record. Without a log it
// records nothing.
type commandAudit struct {
	log   *audit.Log
	base  audit.Record
	start time.Time
}

// beginAudit writes the start record of command cmd, session id; an
// error means the command must not run.
func (c *serverConn) beginAudit(id, cmd string) (*commandAudit, error) {
	a := &commandAudit{log: c.s.Audit, start: time.Now(),
		base: audit.Record{Session: id, Remote: c.remote, Kind: kindLegacy, PeerUID: c.peerUID, Command: cmd}}
	if a.log == nil {
		return a, nil
	}
	r := a.base
	r.Event = audit.EventStart
	if err := a.log.Append(r); err != nil {
		c.log.Error("audit log write failed; the command is not run", "err", err)
		return nil, fmt.Errorf("%w: %w", errAuditFailed, err)
	}
	return a, nil
}

// end writes the end record of a command that ran: how it ended, its
// exit status, the body bytes sent and the SHA-256 of its stdout and
// stderr as the command wrote them. err is why the connection ended
// before or during the reply, if it did.
func (a *commandAudit) end(c *serverConn, res *result, sent int64, err error) {
	if a.log == nil {
		return
	}
	r := endRecord(res, err)
	r.Event = audit.EventEnd
	r.Session, r.Remote, r.Kind, r.PeerUID, r.Command = a.base.Session, a.base.Remote, a.base.Kind, a.base.PeerUID, a.base.Command
	r.BytesOut = sent
	r.DurationMS = time.Since(a.start).Milliseconds()
	r.StdoutSHA, r.StderrSHA = sha256Hex(res.stdout.Reader()), sha256Hex(res.stderr.Reader())
	if err := a.log.Append(r); err != nil {
		c.log.Error("audit log write failed", "err", err)
	}
}

// endRecord is the outcome part of an end record.
func endRecord(res *result, err error) audit.Record {
	code, sig := res.exit()
	r := audit.Record{ExitCode: audit.Code(code), Signal: sig}
	switch {
	case res.startErr != nil:
		r.Outcome, r.Reason = outcomeFailed, res.startErr.Error()
	case err != nil:
		r.Outcome, r.Reason = outcomeLost, err.Error()
	case res.timedOut:
		r.Outcome = outcomeTimedOut
	case res.status.Err != nil:
		r.Outcome, r.Reason = outcomeFailed, res.status.Err.Error()
	case sig != "":
		r.Outcome = outcomeSignaled
	default:
		r.Outcome = outcomeExited
	}
	if note := strings.TrimSpace(res.noteText()); r.Reason == "" && note != "" {
		r.Reason = note
	}
	return r
}

// auditDenied writes the one record of a refused connection or command.
func (c *serverConn) auditDenied(rule, reason, what string) {
	if c.s.Audit == nil {
		return
	}
	r := audit.Record{Event: audit.EventEnd, Session: session.NewID(), Remote: c.remote, Kind: kindLegacy,
		PeerUID: c.peerUID, Command: what, Outcome: outcomeDenied, DeniedRule: rule, Reason: reason}
	if err := c.s.Audit.Append(r); err != nil {
		c.log.Error("audit log write failed", "err", err)
	}
}

// sha256Hex is the hex SHA-256 of what r yields; "" if reading fails.
func sha256Hex(r io.Reader) string {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}
