package protocol

import (
	"errors"
	"fmt"

	"github.com/rexec-dev/rexec/internal/protocol/frame"
)

// Stable error codes carried by Error frames (PROTOCOL.md §6). Clients and
// scripts may depend on them; messages may change.
const (
	CodeProtocol           = "protocol"            // malformed or unexpected frame; connection closed
	CodeTooLarge           = "too_large"           // a frame limit was exceeded; connection closed
	CodeUnsupportedVersion = "unsupported_version" // hello version mismatch; connection closed
	CodeUnauthorized       = "unauthorized"        // client key not authorized; connection closed
	CodeRevoked            = "revoked"             // the key was authorized but no longer is; connection closed
	CodeBadRequest         = "bad_request"         // a request's fields are invalid; connection stays
	CodeDenied             = "denied"              // refused by per-key policy; connection stays
	CodeBusy               = "busy"                // a request arrived while a session runs; connection closed
	CodeUnavailable        = "unavailable"         // server shutting down or out of capacity
	CodeInternal           = "internal"            // server-side failure; the message says which
)

// Sentinel errors of this package, for errors.Is.
var (
	ErrUnknownType = errors.New("protocol: unknown message type")
	ErrBadField    = errors.New("protocol: invalid header field")
	ErrClosed      = errors.New("protocol: connection closed")
)

// RemoteError is an Error frame received from the peer, as a Go error.
type RemoteError struct{ Code, Message string }

func (e *RemoteError) Error() string {
	if e.Message == "" {
		return "remote error: " + e.Code
	}
	return fmt.Sprintf("remote error (%s): %s", e.Code, e.Message)
}

// CodeFor maps a local decoding or limit error to the code sent to the peer
// before the connection is closed. It is the single place that mapping lives.
func CodeFor(err error) string {
	switch {
	case errors.Is(err, frame.ErrHeaderTooLarge), errors.Is(err, frame.ErrBodyTooLarge):
		return CodeTooLarge
	case errors.Is(err, frame.ErrBadHeader), errors.Is(err, ErrUnknownType), errors.Is(err, ErrBadField):
		return CodeProtocol
	}
	return CodeInternal
}

// Fatal reports whether an Error with this code ends the connection (§6).
func Fatal(code string) bool {
	switch code {
	case CodeBadRequest, CodeDenied, CodeUnknownJob, CodeUnknownSession:
		return false
	}
	return !IsFileCode(code)
}
