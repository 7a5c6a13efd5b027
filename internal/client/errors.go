package client

import (
	"errors"
	"fmt"
)

// Outcome classifies how a host's run ended (docs/CLI.md §7); it is also the value
// of the "outcome" field of fan-out JSON output.
type Outcome string

// Outcomes of a run. The first three come with an exit message; the others
// are failures of rexec itself (exit status 255) or of policy.
const (
	Exited          Outcome = "exited"
	Signaled        Outcome = "signaled"
	TimedOut        Outcome = "timed_out"
	ConnectFailed   Outcome = "connect_failed"
	AuthFailed      Outcome = "auth_failed"
	HostKeyUnknown  Outcome = "host_key_unknown"
	HostKeyMismatch Outcome = "host_key_mismatch"
	ConnectionLost  Outcome = "connection_lost"
	ProtocolFailed  Outcome = "protocol_error"
	Denied          Outcome = "denied"
)

// Error is every failure of this package: what went wrong (Outcome), with
// which host, and the underlying cause. Use errors.As to get it.
type Error struct {
	Outcome Outcome
	Host    string
	Err     error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Host, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// OutcomeOf returns the outcome carried by err, or ConnectionLost for an
// error that does not carry one.
func OutcomeOf(err error) Outcome {
	var e *Error
	if errors.As(err, &e) {
		return e.Outcome
	}
	return ConnectionLost
}

func newError(o Outcome, host string, err error) *Error {
	return &Error{Outcome: o, Host: host, Err: err}
}
