package client

import (
	"errors"
	"fmt"

	"github.com/rexec-dev/rexec/internal/outcome"
)

// Error is every failure of this package: what went wrong (an
// outcome.Outcome of docs/CLI.md §7: connect_failed, auth_failed,
// host_key_unknown, host_key_mismatch, connection_lost, protocol_error or
// denied, all exit status outcome.ExitFailure), with which host, and the
// underlying cause. Use errors.As to get it.
type Error struct {
	Outcome outcome.Outcome
	Host    string
	Err     error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Host, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// OutcomeOf returns the outcome carried by err, or ConnectionLost for an
// error that does not carry one.
func OutcomeOf(err error) outcome.Outcome {
	var e *Error
	if errors.As(err, &e) {
		return e.Outcome
	}
	return outcome.ConnectionLost
}

func newError(o outcome.Outcome, host string, err error) *Error {
	return &Error{Outcome: o, Host: host, Err: err}
}
