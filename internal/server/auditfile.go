package server

import (
	"time"

	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/metrics"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/session"
)

// Outcomes of a file request (stat, put, get) in audit records and
// metrics: everything asked for was done, or something was not (the end
// record's reason says what first went wrong).
const (
	outcomeFileOK     = "ok"
	outcomeFileFailed = "failed"
)

// filePath is what an audit record names for a file request.
func filePath(m protocol.Message) string {
	switch m := m.(type) {
	case protocol.Stat:
		return m.Path
	case protocol.Get:
		return m.Path
	case protocol.Put:
		return m.Path + "/" + m.Name
	case protocol.PutTree:
		return m.Path
	case protocol.List:
		return m.Path
	}
	return ""
}

// beginFileAudit writes the start record of a file request, as
// beginAudit does for a command: every put and get (and stat) is a
// session of the audit log, with its path, bytes each way and outcome. An
// error means the request must be refused (fail closed). A request the
// key's no-file-transfer refuses was recorded by auditFileDenied and gets
// no second pair: the result is then a sessionAudit that records nothing.
func (c *serverConn) beginFileAudit(m protocol.Message) (*sessionAudit, error) {
	if c.key.Options.NoFileTransfer {
		return &sessionAudit{}, nil
	}
	a := c.newFileAudit(m)
	if err := a.writeStart(c); err != nil {
		return nil, errAuditFailed
	}
	return a, nil
}

// newFileAudit is the audit of file request m, nothing written yet.
func (c *serverConn) newFileAudit(m protocol.Message) *sessionAudit {
	return &sessionAudit{log: c.s.cfg.Audit, m: c.s.cfg.Metrics, start: time.Now(),
		base: audit.Record{Session: session.NewID(), Fingerprint: c.key.Fingerprint(), User: c.acct.name,
			Comment: c.key.Comment, Remote: c.remote, Kind: m.Type(), Path: filePath(m)}}
}

// writeStart appends the start record, with the key's options in force
// (a file request has no environment, directory or terminal), if there is
// an audit log; a failure is logged and returned.
func (a *sessionAudit) writeStart(c *serverConn) error {
	if a.log == nil {
		return nil
	}
	r := a.base
	r.Event = audit.EventStart
	r.Options = c.auditOptions()
	if err := a.log.Append(r); err != nil {
		c.log.Error("audit log write failed", "err", err)
		return err
	}
	return nil
}

// failed notes the first thing of a file request that went wrong (one
// entry of a tree, say), for the end record.
func (a *sessionAudit) failed(reason string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	if a.failure == "" {
		a.failure = reason
	}
	a.mu.Unlock()
}

// fileBytes counts file bytes of a put (metrics.DirIn, from the client)
// or a get (metrics.DirOut, to the client).
func (a *sessionAudit) fileBytes(dir string, n int64) {
	if a == nil {
		return
	}
	a.m.Bytes(dir, n)
	a.mu.Lock()
	if dir == metrics.DirIn {
		a.in += n
	} else {
		a.out += n
	}
	a.mu.Unlock()
}

// endFile writes the end record of a file request that ended with err
// (nil: it was served to the end, though entries of it may have failed).
func (a *sessionAudit) endFile(err error, c *serverConn) {
	if a.base.Kind == "" {
		return // recorded as denied already, or never begun
	}
	r := audit.Record{Outcome: outcomeFileOK}
	a.mu.Lock()
	reason := a.failure
	a.mu.Unlock()
	if err != nil {
		reason = err.Error()
	}
	if reason != "" {
		r.Outcome, r.Reason = outcomeFileFailed, reason
	}
	a.end(r, c)
}
