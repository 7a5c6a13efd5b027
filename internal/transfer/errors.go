package transfer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// Sentinel errors of this package, for errors.Is.
var (
	// ErrBadName: a name from the peer broke CheckName. A receiver treats
	// it as a protocol violation.
	ErrBadName = errors.New("transfer: invalid name")
	// ErrProtocol: the peer broke the transfer conversation (PROTOCOL.md
	// §8); the connection cannot go on.
	ErrProtocol = errors.New("transfer: protocol violation")
	// ErrChanged: the source's size or modification time changed while
	// it was being read, so what was sent may be a mix of two versions.
	ErrChanged = errors.New("source changed while being read")
	// ErrIntegrity: the bytes received do not hash to the sender's digest.
	ErrIntegrity = errors.New("the digest (BLAKE3) of the received data does not match the sender's")
	// ErrInUse: another transfer holds the partial file of this target.
	ErrInUse = errors.New("another transfer is writing this file")
	// ErrSymlink: a name leads through a symbolic link, which a receiver
	// never follows.
	ErrSymlink = errors.New("refusing to write through a symbolic link")
	// ErrNotRegular: the source is neither a regular file, a directory
	// nor a symbolic link (a device, socket or FIFO).
	ErrNotRegular = errors.New("not a regular file")
	// ErrIsDir: a directory where a file was expected.
	ErrIsDir = errors.New("is a directory")
	// ErrNotDir: something other than a directory where one was expected.
	ErrNotDir = errors.New("not a directory")
)

// FileError is the failure of one entry: the connection goes on. Name is
// the entry's name as on the wire; Code is its error code (§6).
type FileError struct {
	Name string
	Code string
	Err  error
}

func (e *FileError) Error() string {
	if e.Name == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("%s: %v", e.Name, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// NewFileError wraps err as the failure of the entry name, with the code
// CodeOf gives it.
func NewFileError(name string, err error) *FileError {
	var fe *FileError
	if errors.As(err, &fe) {
		if fe.Name == "" {
			return &FileError{Name: name, Code: fe.Code, Err: fe.Err}
		}
		return fe
	}
	return &FileError{Name: name, Code: CodeOf(err), Err: err}
}

// CodeOf maps a local error to the wire code that reports it (§6). It is
// the single place that mapping lives.
func CodeOf(err error) string {
	var fe *FileError
	switch {
	case errors.As(err, &fe):
		return fe.Code
	case errors.Is(err, fs.ErrNotExist):
		return protocol.CodeNotFound
	case errors.Is(err, fs.ErrPermission):
		return protocol.CodePermission
	case isNoSpace(err):
		return protocol.CodeNoSpace
	case errors.Is(err, ErrChanged):
		return protocol.CodeChanged
	case errors.Is(err, ErrIntegrity):
		return protocol.CodeIntegrity
	case errors.Is(err, ErrInUse):
		return protocol.CodeInUse
	}
	return protocol.CodeIO
}

// Reason is err's cause as a person wants to read it after a file name:
// "permission denied" rather than "openat a/.b.rexec-part-...: permission
// denied", whose path is an internal detail.
func Reason(err error) string {
	var pe *fs.PathError
	var le *os.LinkError
	var se *os.SyscallError
	switch {
	case errors.As(err, &pe):
		return pe.Err.Error()
	case errors.As(err, &le):
		return le.Err.Error()
	case errors.As(err, &se):
		return se.Err.Error()
	}
	return err.Error()
}

// protocolError wraps a violation by the peer.
func protocolError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}
