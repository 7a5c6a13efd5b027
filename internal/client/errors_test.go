package client

import (
	"errors"
	"fmt"
	"testing"

	"github.com/rexec-dev/rexec/internal/outcome"
)

// TestOutcomeOf: the outcome an *Error carries comes through wrapping;
// an error that carries none is a lost connection.
func TestOutcomeOf(t *testing.T) {
	tests := []struct {
		err  error
		want outcome.Outcome
	}{
		{fmt.Errorf("wrapped: %w", newError(outcome.HostKeyUnknown, "h", errors.New("x"))), outcome.HostKeyUnknown},
		{newError(outcome.ProtocolError, "h", errors.New("x")), outcome.ProtocolError},
		{newError(outcome.Denied, "h", errors.New("x")), outcome.Denied},
		{errors.New("plain"), outcome.ConnectionLost},
	}
	for _, tt := range tests {
		if got := OutcomeOf(tt.err); got != tt.want {
			t.Errorf("OutcomeOf(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}
