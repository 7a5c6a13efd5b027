package daemon

import (
	"io"
	"log/slog"
	"os"

	"github.com/rexec-dev/rexec/internal/server"
)

// FileHelperArg is the hidden first argument that makes the rexec binary
// a root daemon's file helper (docs/SECURITY.md, "Accounts"): the daemon
// starts its own binary with it, as the account, to serve a connection's
// file requests.
const FileHelperArg = server.FileHelperArg

// RunFileHelper is the file helper's process: it serves the requests the
// daemon relays over standard input and output, which are one socket,
// with umask as the account's file creation mask, and returns when the
// daemon closes the link.
func RunFileHelper(umask int) error {
	rw := stdioLink{r: os.Stdin, w: os.Stdout}
	return server.ServeFileHelper(rw, umask, slog.New(slog.DiscardHandler))
}

// SFTPServerArg is the hidden command line word of the sftp subsystem's
// process (server.SFTPServerArg).
const SFTPServerArg = server.SFTPServerArg

// RunSFTPServer is the sftp subsystem's process: an SFTP server on
// standard input and output, as the session's account.
func RunSFTPServer() error {
	return server.ServeSFTP(os.Stdin, os.Stdout)
}

// stdioLink is the helper's end of its link: standard input and output.
type stdioLink struct {
	r io.ReadCloser
	w io.WriteCloser
}

func (l stdioLink) Read(p []byte) (int, error)  { return l.r.Read(p) }
func (l stdioLink) Write(p []byte) (int, error) { return l.w.Write(p) }
func (l stdioLink) Close() error {
	l.w.Close()
	return l.r.Close()
}
