package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Events a record can describe.
const (
	EventStart = "start"
	EventEnd   = "end"
	// EventCheckpoint is a record the daemon appends, not a session: its
	// Sig signs the chain position (seq and prev) with the host key, so
	// that the records before it cannot be rewritten without the key
	// (Log.Checkpoint, VerifyOptions.Key).
	EventCheckpoint = "checkpoint"
)

// Genesis is the prev of a file's first record: there is no previous line.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// MaxRecordSize bounds one line (newline included). A request header is at
// most 64 KiB (docs/PROTOCOL.md §2.2), so even an argv that fills one fits several times
// over; Verify and Open refuse longer lines instead of buffering them.
const MaxRecordSize = 1 << 20

// hashLen is the length of a hex SHA-256.
const hashLen = 2 * sha256.Size

// Record is one audit log line. Seq, Prev and Hash are filled by
// Log.Append, and Time when it is zero; the server fills the rest. Fields
// left at their zero value are omitted from the line, except time, seq,
// event, prev and hash: an absent byte count means zero.
//
// Strings are marshalled as JSON, so invalid UTF-8 is replaced by U+FFFD;
// protocol values reach the server already decoded from JSON and are valid.
type Record struct {
	Time        time.Time `json:"time"`                  // UTC, RFC 3339 with nanoseconds
	Seq         int       `json:"seq"`                   // 1 for a file's first record, then +1
	Event       string    `json:"event"`                 // EventStart, EventEnd or EventCheckpoint
	Session     string    `json:"session,omitempty"`     // session id, the same in start and end
	Fingerprint string    `json:"fingerprint,omitempty"` // client key, "SHA256:..."
	Comment     string    `json:"comment,omitempty"`     // the key's authorized_keys comment
	Remote      string    `json:"remote,omitempty"`      // client "ip:port"
	Kind        string    `json:"kind,omitempty"`        // "exec", "shell", "put", "get", ...
	Argv        []string  `json:"argv,omitempty"`        // exec without a shell
	Command     string    `json:"command,omitempty"`     // exec through the shell, or a forced command
	Path        string    `json:"path,omitempty"`        // put, get, stat
	Job         string    `json:"job,omitempty"`         // a detached job's id: job, attach, kill
	User        string    `json:"user,omitempty"`        // the account the request runs as
	PeerUID     *int      `json:"peer_uid,omitempty"`    // legacy listener: uid owning the client's socket
	Options     string    `json:"options,omitempty"`     // the key's authorized_keys options in force
	Env         []string  `json:"env,omitempty"`         // client-set K=V, sorted; redacted values hashed (RedactEnv)
	Cwd         string    `json:"cwd,omitempty"`         // working directory the client asked for
	PTY         bool      `json:"pty,omitempty"`         // a terminal was requested
	Outcome     string    `json:"outcome,omitempty"`     // end: exited, signaled, timed_out, denied, connection_lost, ...
	ExitCode    *int      `json:"exit_code,omitempty"`   // end: the exit code, when the command exited
	Signal      string    `json:"signal,omitempty"`      // end: the signal that killed it, e.g. "KILL"
	BytesIn     int64     `json:"bytes_in,omitempty"`    // end: bytes from the client (stdin, file data)
	BytesOut    int64     `json:"bytes_out,omitempty"`   // end: bytes to the client (stdout+stderr, file data)
	DurationMS  int64     `json:"duration_ms,omitempty"` // end: wall time of the session
	StdoutSHA   string    `json:"stdout_sha256,omitempty"`
	StderrSHA   string    `json:"stderr_sha256,omitempty"`
	DeniedRule  string    `json:"denied_rule,omitempty"` // the authorized_keys option that refused it
	Reason      string    `json:"reason,omitempty"`      // free text: why denied, why lost
	Sig         string    `json:"sig,omitempty"`         // checkpoint: base64 ed25519 signature of its seq and prev
	Prev        string    `json:"prev"`                  // hex SHA-256 of the previous line; Genesis first
	Hash        string    `json:"hash"`                  // hex SHA-256 of this line with hash ""
}

// Code returns a pointer to code, for Record.ExitCode.
func Code(code int) *int { return &code }

var (
	hashKey    = []byte(`,"hash":"`)
	emptyTail  = []byte(`,"hash":""}`)
	errTooLong = fmt.Errorf("record longer than %d bytes", MaxRecordSize)
)

// encode marshals r (Seq, Prev and Time already set) and returns its line
// with the hash filled in and a trailing newline.
func encode(r Record) ([]byte, error) {
	r.Hash = ""
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(b, emptyTail) {
		panic("bug: audit: hash is not the last field")
	}
	sum := sha256.Sum256(b)
	line := make([]byte, 0, len(b)+hashLen+1)
	line = append(line, b[:len(b)-2]...)
	line = hex.AppendEncode(line, sum[:])
	line = append(line, '"', '}', '\n')
	if len(line) > MaxRecordSize {
		return nil, errTooLong
	}
	return line, nil
}

// lineHash is the hex SHA-256 of line, the next record's prev.
func lineHash(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// decode parses one line (without its newline) and checks the record's
// own hash. It does not look at seq or prev: those need the neighbours.
func decode(line []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		return r, fmt.Errorf("not a JSON record: %v", err)
	}
	if len(r.Hash) != hashLen || !isLowerHex(r.Hash) {
		return r, errors.New("hash field missing or not 64 hex digits")
	}
	if !bytes.HasSuffix(line, []byte(r.Hash+`"}`)) {
		return r, errors.New(`hash is not the last field`)
	}
	body := line[:len(line)-hashLen-2]
	if !bytes.HasSuffix(body, hashKey) {
		return r, errors.New(`hash is not the last field`)
	}
	sum := sha256.New()
	sum.Write(body)
	sum.Write([]byte(`"}`))
	if got := hex.EncodeToString(sum.Sum(nil)); got != r.Hash {
		return r, errors.New("content does not match its hash (the record was changed)")
	}
	return r, nil
}

func isLowerHex(s string) bool {
	return strings.Trim(s, "0123456789abcdef") == ""
}
