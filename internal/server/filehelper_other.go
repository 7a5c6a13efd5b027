//go:build !unix

package server

import (
	"errors"
	"io"
	"log/slog"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// FileHelperArg is the hidden command line word of the file helper, which
// exists on Unix only: a daemon elsewhere serves its own account only.
const FileHelperArg = "__file-helper"

type fileHelper struct{}

func (c *serverConn) needsHelper() bool { return false }

func (c *serverConn) stopHelper() {}

func (c *serverConn) relayFile(m protocol.Message) error { return c.serveFile(m) }

// ServeFileHelper fails: there is no file helper on this system.
func ServeFileHelper(io.ReadWriteCloser, int, *slog.Logger) error {
	return errors.New("server: no file helper on this system")
}
