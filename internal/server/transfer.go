package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rexec-dev/rexec/internal/metrics"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/session"
	"github.com/rexec-dev/rexec/internal/transfer"
)

// File requests (PROTOCOL.md §8) are served by the connection's reader
// itself, from the request to its last reply: a put's bytes arrive on the
// reader, and a get is written from it. Requests on one connection are
// thus strictly sequential (a client may pipeline puts), and a request
// that arrives inside a file's stream is the busy violation of §7.4.

// errNoFileTransfer is the per-key refusal (authorized_keys
// no-file-transfer, or restrict).
var errNoFileTransfer = &transfer.FileError{Code: protocol.CodeDenied,
	Err: errors.New("no-file-transfer: this key may not transfer files (a line with command=, allow= or " +
		"restrict transfers files only when it also says file-transfer)")}

// homeDir is where relative paths of file requests start: the account's
// home, as for a session's working directory.
var homeDir = sync.OnceValue(session.Home)

// sweepOnce removes stale partial files from the home directory at the
// first file request after the daemon starts (transfer.SweepStale).
var sweepOnce sync.Once

// serveTransfer serves one file request from its claim to its last
// reply; an error ends the connection.
func (c *serverConn) serveTransfer(m protocol.Message) error {
	if err := c.claim(fileRequest); err != nil {
		return err
	}
	defer c.release()
	c.auditFileDenied(m)
	sweepOnce.Do(c.sweepStale)
	a, err := c.beginFileAudit(m)
	if err != nil {
		c.sendError(protocol.CodeUnavailable, err.Error())
		return err
	}
	c.xaudit = a // only this goroutine (the reader) serves the request
	defer func() { c.xaudit = nil }()
	serve := c.serveFile
	if c.needsHelper() && !c.key.Options.NoFileTransfer {
		serve = c.relayFile // as the account, in its helper (filehelper.go)
	}
	if _, isStat := m.(protocol.Stat); isStat {
		err = serve(m)
	} else {
		err = c.withSlot(func() error { return serve(m) })
	}
	ferr := c.transferFailure(err)
	a.endFile(err, c)
	return ferr
}

// withSlot counts a put or get as a session against the server's limits.
func (c *serverConn) withSlot(f func() error) error {
	slot := c.key.Fingerprint()
	if reason, ok := c.s.running.acquire(slot); !ok {
		c.sendError(protocol.CodeUnavailable, reason)
		return errors.New(reason)
	}
	defer c.s.running.release(slot)
	return f()
}

// transferFailure reports a fatal error of a file request to the peer.
func (c *serverConn) transferFailure(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errTransferBusy):
		return c.refuse(err)
	case errors.Is(err, transfer.ErrProtocol):
		c.sendError(protocol.CodeProtocol, err.Error())
	default:
		return c.protocolFailure("file transfer", err)
	}
	return err
}

func (c *serverConn) sweepStale() {
	n, err := transfer.SweepStale(homeDir(), transfer.StaleAge)
	if n > 0 || err != nil {
		c.log.Info("swept stale partial files", "dir", homeDir(), "removed", n, "err", err)
	}
}

// xferWire is the connection as one file's stream sees it: pings are
// answered and pongs dropped on the way, a new request is a violation,
// and each read and write has the stream's deadline (keepalive.go).
type xferWire struct{ c *serverConn }

func (w xferWire) Send(m protocol.Message) error {
	if w.c.link {
		return w.c.pc.Send(m)
	}
	_ = w.c.nc.SetWriteDeadline(w.c.streamDeadline())
	return w.c.pc.Send(m)
}

func (w xferWire) Recv() (protocol.Message, error) {
	if w.c.link {
		return w.c.askDaemon()
	}
	for {
		_ = w.c.nc.SetReadDeadline(w.c.streamDeadline())
		m, err := w.c.recv()
		if err != nil {
			return nil, err
		}
		if ping, err := answerPing(m, w.Send); ping {
			if err != nil {
				return nil, err
			}
			continue
		}
		if isRequest(m) {
			return nil, errTransferBusy
		}
		return m, nil
	}
}

// resolvePath maps a request's path to this host: relative to the home
// directory, "~" and "~/..." as the shell would, absolute as given.
func resolvePath(p string) (string, error) {
	switch {
	case p == "" || p == "~":
		return homeDir(), nil
	case strings.HasPrefix(p, "~/"):
		return filepath.Join(homeDir(), filepath.FromSlash(p[2:])), nil
	case strings.HasPrefix(p, "~"):
		return "", &transfer.FileError{Name: p, Code: protocol.CodeBadRequest,
			Err: errors.New("~user is not supported; give the path")}
	}
	p = filepath.FromSlash(p)
	if filepath.IsAbs(p) {
		return filepath.Clean(p), nil
	}
	return filepath.Join(homeDir(), p), nil
}

// shown is a request path as messages name it.
func shown(p string) string {
	if p == "" {
		return "~"
	}
	return p
}

// errorFor is the error frame reporting err about the file shown as name.
func errorFor(name string, err error) protocol.Error {
	return protocol.Error{Code: transfer.CodeOf(err), Message: name + ": " + transfer.Reason(err)}
}

func (c *serverConn) serveStat(m protocol.Stat) error {
	if c.key.Options.NoFileTransfer {
		return c.pc.Send(errorFor(shown(m.Path), errNoFileTransfer))
	}
	p, err := resolvePath(m.Path)
	var fi fs.FileInfo
	if err == nil {
		fi, err = os.Stat(p)
	}
	if err != nil {
		c.xaudit.failed(transfer.Reason(err))
		return c.pc.Send(errorFor(shown(m.Path), err))
	}
	res := protocol.StatResult{Name: filepath.Base(p), Kind: protocol.KindOther,
		Mode: transfer.WireMode(fi.Mode()), MtimeNS: fi.ModTime().UnixNano()}
	switch {
	case fi.Mode().IsRegular():
		res.Kind, res.Length = protocol.KindFile, fi.Size()
		if m.Checksum {
			if res.Digest, res.Length, err = transfer.FileDigest(p); err != nil {
				c.xaudit.failed(transfer.Reason(err))
				return c.pc.Send(errorFor(shown(m.Path), err))
			}
		}
	case fi.IsDir():
		res.Kind = protocol.KindDir
	}
	if res.Name == string(filepath.Separator) || res.Name == "." {
		res.Name = ""
	}
	return c.pc.Send(res)
}

// servePut receives one entry. It answers exactly once: put_ok, or the
// error of the entry (sent as soon as the entry fails, even while its
// bytes are still arriving; they are then read and dropped).
func (c *serverConn) servePut(m protocol.Put) error {
	e := m.AsEntry()
	reply := func(fe *transfer.FileError) error {
		c.log.Info("put failed", "path", m.Path, "name", m.Name, "code", fe.Code, "err", fe.Err)
		c.xaudit.failed(transfer.Reason(fe.Err))
		return c.pc.Send(protocol.Error{Code: fe.Code, Message: transfer.Reason(fe.Err)})
	}
	r, err := c.openReceiver(m.Path)
	if r != nil {
		defer r.Close()
	}
	if e.Kind == protocol.KindFile {
		return c.receiveFile(r, err, m, reply)
	}
	if err == nil && e.Kind == protocol.KindDir {
		err = r.Dir(e)
	} else if err == nil {
		err = r.Symlink(e)
	}
	switch {
	case errors.Is(err, transfer.ErrBadName):
		return fmt.Errorf("%w: %v", transfer.ErrProtocol, err)
	case err != nil:
		return reply(transfer.NewFileError(e.Name, err))
	}
	return c.pc.Send(protocol.PutOK{})
}

// openReceiver opens the put's destination directory, or says why not.
func (c *serverConn) openReceiver(path string) (*transfer.Receiver, error) {
	if c.key.Options.NoFileTransfer {
		return nil, errNoFileTransfer
	}
	p, err := resolvePath(path)
	if err != nil {
		return nil, err
	}
	r, err := transfer.OpenReceiver(p, "")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &transfer.FileError{Name: path, Code: transfer.CodeOf(err),
			Err: fmt.Errorf("the directory %s does not exist on this host", shown(path))}
	case err != nil:
		return nil, &transfer.FileError{Name: path, Code: transfer.CodeOf(err), Err: errors.New(transfer.Reason(err))}
	}
	return r, nil
}

func (c *serverConn) receiveFile(r *transfer.Receiver, rerr error, m protocol.Put,
	reply func(*transfer.FileError) error) error {
	e := m.AsEntry()
	open := func() (*transfer.Part, error) {
		if rerr != nil {
			return nil, rerr
		}
		return r.File(e)
	}
	start := time.Now()
	res, err := transfer.ReceiveFile(xferWire{c}, e, m.Resume, open, transfer.Hooks{Failed: reply})
	c.xaudit.fileBytes(metrics.DirIn, res.Bytes)
	if errors.As(err, new(*transfer.FileError)) {
		return nil // already answered by reply
	}
	if err != nil {
		return err
	}
	c.log.Info("file received", "path", m.Path, "name", m.Name, "length", e.Length,
		"resumed_at", res.Offset, "bytes", res.Bytes, "duration", time.Since(start))
	return c.pc.Send(protocol.PutOK{})
}

// serveGet sends the requested file or tree: entries children first,
// per-entry errors as error frames, then get_end.
func (c *serverConn) serveGet(m protocol.Get) error {
	w := xferWire{c}
	p, err := resolvePath(m.Path)
	if c.key.Options.NoFileTransfer {
		err = errNoFileTransfer
	}
	if err != nil {
		c.xaudit.failed(transfer.Reason(err))
		if m.Select {
			if _, err := readSelection(w); err != nil {
				return err
			}
		}
		if err := w.Send(errorFor(shown(m.Path), err)); err != nil {
			return err
		}
		return w.Send(protocol.GetEnd{})
	}
	if m.Batch || m.Select {
		return c.serveGetTree(m, p)
	}
	err = transfer.Walk(p, m.Recursive, func(name, local string, e protocol.Entry, err error) error {
		switch {
		case err != nil:
			c.xaudit.failed(getName(m.Path, name) + ": " + transfer.Reason(err))
			return w.Send(errorFor(getName(m.Path, name), err))
		case e.Kind == protocol.KindFile:
			return c.sendFile(w, m, name, local)
		}
		return w.Send(e)
	})
	if err != nil {
		return err
	}
	return w.Send(protocol.GetEnd{})
}

// getName is how a get's entry is named in messages.
func getName(path, name string) string {
	if name == "." {
		return shown(path)
	}
	return strings.TrimSuffix(shown(path), "/") + "/" + name
}

func (c *serverConn) sendFile(w xferWire, m protocol.Get, name, local string) error {
	src, err := transfer.OpenSource(local)
	if err != nil {
		c.xaudit.failed(getName(m.Path, name) + ": " + transfer.Reason(err))
		return w.Send(errorFor(getName(m.Path, name), err))
	}
	defer src.Close()
	if err := w.Send(src.Entry(name)); err != nil {
		return err
	}
	start := time.Now()
	res, err := transfer.SendFile(w, src, name, m.Resume, transfer.Hooks{})
	c.xaudit.fileBytes(metrics.DirOut, res.Bytes)
	if errors.As(err, new(*transfer.FileError)) {
		c.log.Info("get failed", "path", local, "err", err)
		c.xaudit.failed(getName(m.Path, name) + ": " + err.Error())
		return nil // the client was told in file_end
	}
	if err == nil {
		c.log.Info("file sent", "path", local, "length", src.Length(), "resumed_at", res.Offset,
			"bytes", res.Bytes, "duration", time.Since(start))
	}
	return err
}

// askDaemon is a file helper's read of the client's next frame: asked of
// the daemon, which reads it as xferWire does for its own account.
func (c *serverConn) askDaemon() (protocol.Message, error) {
	if err := c.pc.Send(protocol.XferRead{}); err != nil {
		return nil, err
	}
	m, err := c.pc.Recv()
	if err != nil {
		return nil, err
	}
	if a, ok := m.(protocol.XferAbort); ok {
		if a.Busy {
			return nil, errTransferBusy
		}
		return nil, fmt.Errorf("the client's frame could not be read: %s", a.Error)
	}
	return m, nil
}

// serveFile runs one file request's own code, in the daemon for its own
// account or in the helper.
func (c *serverConn) serveFile(m protocol.Message) error {
	switch m := m.(type) {
	case protocol.Stat:
		return c.serveStat(m)
	case protocol.Put:
		return c.servePut(m)
	case protocol.Get:
		return c.serveGet(m)
	case protocol.PutTree:
		return c.servePutTree(m)
	case protocol.List:
		return c.serveList(m)
	}
	return fmt.Errorf("%w: %s is not a file request", transfer.ErrProtocol, m.Type())
}
