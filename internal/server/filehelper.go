//go:build unix

package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/metrics"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transfer"
)

// File requests as another account (docs/SECURITY.md, "Accounts"). A
// root daemon never opens an account's path itself: the file requests of
// a connection whose account is not the daemon's run in a helper process
// started from the daemon's own binary with the account's ids, groups,
// umask and a fresh environment, so that the kernel applies the account's
// permissions. The helper runs this package's own file-request code (the
// same servePut, serveGet and serveStat) over a link to the daemon, which
// relays: the helper's frames go to the client; when the helper's code
// reads, it asks (xfer_read) and the daemon reads the client's next frame
// for it, pings answered and a new request inside a stream refused, as
// for its own account. One helper serves a connection's requests one
// after another and ends with the connection.

// FileHelperArg is the hidden command line word that makes the rexec
// binary a file helper (cmd/rexec hands it to ServeFileHelper's caller).
const FileHelperArg = "__file-helper"

// helperStop bounds how long a helper may take to exit once its link is
// closed before it is killed.
const helperStop = 2 * time.Second

// fileHelper is one connection's helper process and its link.
type fileHelper struct {
	cmd  *exec.Cmd
	link *protocol.Conn
}

// needsHelper reports whether the connection's file requests must run in
// a helper: its account is not the daemon's own.
func (c *serverConn) needsHelper() bool {
	return c.acct != nil && !c.acct.own && c.acct.acct != nil
}

// startHelper starts the connection's helper (once) as its account.
func (c *serverConn) startHelper() (*fileHelper, error) {
	if c.helper != nil {
		return c.helper, nil
	}
	a := c.acct.acct
	ours, theirs, err := socketPair()
	if err != nil {
		return nil, err
	}
	defer theirs.Close()
	groups := make([]uint32, len(a.Groups))
	for i, g := range a.Groups {
		groups[i] = uint32(g)
	}
	dir := a.Home
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		dir = "/"
	}
	// The daemon's own binary, through /proc/self/exe: the account need
	// not be able to reach its directory (a test binary's is private).
	cmd := exec.Command(selfExe, FileHelperArg, "--umask", strconv.FormatInt(int64(c.acct.umask), 8))
	cmd.Env = []string{"HOME=" + a.Home, "USER=" + a.Name, "LOGNAME=" + a.Name, "PATH=" + c.acct.path,
		"SHELL=" + a.LoginShell()}
	cmd.Dir, cmd.Stdin, cmd.Stdout = dir, theirs, theirs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true,
		Credential: &syscall.Credential{Uid: uint32(a.UID), Gid: uint32(a.GID), Groups: groups}}
	setParentDeath(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		ours.Close()
		return nil, fmt.Errorf("starting the file helper as %s: %w", a.Name, err)
	}
	c.helper = &fileHelper{cmd: cmd, link: protocol.NewLinkConn(ours)}
	c.log.Info("file helper started", "pid", cmd.Process.Pid)
	return c.helper, nil
}

// stopHelper ends the connection's helper, if any: its link closes, it
// exits, and it is killed if it does not within helperStop.
func (c *serverConn) stopHelper() {
	h := c.helper
	if h == nil {
		return
	}
	c.helper = nil
	h.link.Close()
	done := make(chan struct{})
	go func() { _ = h.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(helperStop):
		_ = h.cmd.Process.Kill()
		<-done
	}
}

// relayFile serves file request m through the helper. Only the reader
// goroutine calls it, between claim and release, like the in-process
// file code.
func (c *serverConn) relayFile(m protocol.Message) error {
	h, err := c.startHelper()
	if err != nil {
		c.log.Error("file request not served", "err", err)
		c.xaudit.failed(err.Error())
		return c.pc.Send(protocol.Error{Code: protocol.CodeIO, Message: "the server could not serve this file request"})
	}
	if err := h.link.Send(m); err != nil {
		return c.helperFailed(err)
	}
	w := xferWire{c}
	var clientErr error // why the client's frame could not be had, for the helper's abort
	for {
		lm, err := h.link.Recv()
		if err != nil {
			return c.helperFailed(err)
		}
		switch lm := lm.(type) {
		case protocol.XferRead:
			cm, err := w.Recv()
			if err != nil {
				clientErr = err
				err = h.link.Send(protocol.XferAbort{Busy: errors.Is(err, errTransferBusy), Error: err.Error()})
			} else {
				err = h.link.Send(cm)
			}
			if err != nil {
				return c.helperFailed(err)
			}
		case protocol.XferDone:
			return c.helperDone(lm, clientErr)
		case protocol.XferAbort:
			return c.helperFailed(errors.New("unexpected xfer_abort from the helper"))
		default:
			if err := w.Send(lm); err != nil {
				c.stopHelper() // it may be mid-stream: no way back to a request boundary
				return err
			}
		}
	}
}

// helperDone applies the helper's report of one request.
func (c *serverConn) helperDone(d protocol.XferDone, clientErr error) error {
	if d.Failed != "" {
		c.xaudit.failed(d.Failed)
	}
	c.xaudit.fileBytes(metrics.DirIn, d.BytesIn)
	c.xaudit.fileBytes(metrics.DirOut, d.BytesOut)
	switch d.Fatal {
	case "":
		return nil
	case "busy":
		return errTransferBusy
	case "protocol":
		return fmt.Errorf("%w: %s", transfer.ErrProtocol, d.Message)
	}
	if clientErr != nil {
		return clientErr
	}
	return fmt.Errorf("file helper: %s", d.Message)
}

// helperFailed ends a connection whose helper broke (exited, or spoke
// out of turn): the request's state is unknown, so the connection goes.
func (c *serverConn) helperFailed(err error) error {
	c.log.Error("file helper failed", "err", err)
	c.stopHelper()
	c.sendError(protocol.CodeInternal, "the server's file helper failed")
	return fmt.Errorf("file helper: %w", err)
}

// ServeFileHelper is the helper process: it serves the file requests the
// daemon relays over rw (its stdin and stdout), one after another, as the
// account it runs as, until the link closes. umask is the account's file
// creation mask. What it logs goes to log (the daemon reports the outcome
// of each request in its own log).
func ServeFileHelper(rw io.ReadWriteCloser, umask int, log *slog.Logger) error {
	syscall.Umask(umask)
	transfer.SetCreateMask(uint32(umask))
	link := protocol.NewLinkConn(rw)
	defer link.Close()
	c := &serverConn{s: &Server{log: log}, pc: link, log: log, key: &auth.AuthorizedKey{}, link: true}
	if n, err := transfer.SweepStale(homeDir(), transfer.StaleAge); n > 0 || err != nil {
		log.Info("swept stale partial files", "dir", homeDir(), "removed", n, "err", err)
	}
	for {
		m, err := link.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("file helper: %w", err)
		}
		a := &sessionAudit{}
		c.xaudit = a
		err = c.serveFile(m)
		done := protocol.XferDone{Failed: a.failure, BytesIn: a.in, BytesOut: a.out}
		switch {
		case err == nil:
		case errors.Is(err, errTransferBusy):
			done.Fatal = "busy"
		case errors.Is(err, transfer.ErrProtocol):
			done.Fatal, done.Message = "protocol", err.Error()
		default:
			done.Fatal, done.Message = "closed", err.Error()
		}
		if err := link.Send(done); err != nil {
			return fmt.Errorf("file helper: %w", err)
		}
	}
}
