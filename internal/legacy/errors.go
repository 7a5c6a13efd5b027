package legacy

import (
	"errors"
	"fmt"
	"io"
)

// Errors returned by this package; compare with errors.Is. Each is wrapped
// with the detail that explains it (sizes, addresses, the value received).
var (
	// ErrServerClosed: the server closed the connection before the whole
	// reply arrived; the message says how many bytes of which part came.
	ErrServerClosed = errors.New("legacy: server closed the connection")
	// ErrBadHeader: the length prefix or the JSON header is malformed.
	ErrBadHeader = errors.New("legacy: bad reply header")
	// ErrHeaderTooLarge: the length prefix exceeds MaxHeaderSize.
	ErrHeaderTooLarge = errors.New("legacy: reply header too large")
	// ErrBodyTooLarge: total_size exceeds MaxBodySize.
	ErrBodyTooLarge = errors.New("legacy: reply body too large")
	// ErrMD5Mismatch: the body's MD5 differs from the header's md5; the
	// connection is still in step, so a prompt loop may go on.
	ErrMD5Mismatch = errors.New("legacy: md5 mismatch")
	// ErrEmptyCommand: a command of zero bytes, which the protocol cannot
	// send (the server would wait for it forever).
	ErrEmptyCommand = errors.New("legacy: empty command")
	// ErrCommandTooLong: a command over MaxCommandSize bytes.
	ErrCommandTooLong = errors.New("legacy: command too long")
	// ErrBadEncoding: Client.Encoding is none of "", "utf-8", "gbk", "raw",
	// or Server.Encoding none of "", "utf-8", "gbk".
	ErrBadEncoding = errors.New("legacy: unknown encoding")
	// ErrConnBroken: a previous Run on this Conn failed mid-request, so
	// the byte stream is out of step and the Conn cannot be reused.
	ErrConnBroken = errors.New("legacy: connection unusable after an earlier error")
	// ErrRemoteListen: CheckListenAddr refused a non-loopback address.
	ErrRemoteListen = errors.New("legacy: refusing a non-loopback listen address")
	// ErrNoAllowFrom: CheckAllowFrom refused a non-loopback address
	// without a source list.
	ErrNoAllowFrom = errors.New("legacy: a non-loopback listen address needs the list of sources allowed to connect")
	// ErrBadAddr: CheckListenAddr or CheckAllowFrom could not parse the
	// address.
	ErrBadAddr = errors.New("legacy: bad listen address")
)

// shortRead turns the error of an exact read that got only got of want
// bytes of part into ErrServerClosed when the peer closed, else wraps it.
func shortRead(err error, got, want int64, part string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w after %d of %d %s bytes", ErrServerClosed, got, want, part)
	}
	return fmt.Errorf("legacy: reading the %s (%d of %d bytes): %w", part, got, want, err)
}
