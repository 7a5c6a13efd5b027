package server

import (
	"errors"
	"fmt"
	"os"

	"github.com/rexec-dev/rexec/internal/metrics"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transfer"
)

// Tree uploads, batched downloads, manifests and selections (PROTOCOL.md
// §8.10, §8.11). Like the other file requests they use only the stream
// (xferWire), the audit hooks (xaudit), the log and the key's options,
// so that they can run in a per-account helper.

// servePutTree receives a tree upload: batches, applied and made durable
// together, and large files, each as its own stream, up to tree_end; then
// one tree_done. A failed entry is reported at once (entry_error) and the
// upload goes on. When the destination itself cannot be written, one
// error says so and the rest of the upload is read and dropped.
func (c *serverConn) servePutTree(m protocol.PutTree) error {
	w := xferWire{c}
	r, err := c.openReceiver(m.Path)
	if err != nil {
		fe := transfer.NewFileError(m.Path, err)
		c.xaudit.failed(transfer.Reason(fe.Err))
		if err := w.Send(protocol.Error{Code: fe.Code, Message: transfer.Reason(fe.Err)}); err != nil {
			return err
		}
		return dropTree(w)
	}
	defer r.Close()
	var done protocol.TreeDone
	entryFailed := func(fe *transfer.FileError) error {
		done.Failed++
		c.xaudit.failed(fe.Name + ": " + transfer.Reason(fe.Err))
		return w.Send(protocol.EntryError{Name: fe.Name, Code: fe.Code, Message: transfer.Reason(fe.Err)})
	}
	a := r.NewApplier(func(x transfer.Applied, err error) error {
		c.xaudit.fileBytes(metrics.DirIn, x.Bytes)
		done.Bytes += x.Bytes
		switch {
		case err != nil:
			return entryFailed(transfer.NewFileError(x.Entry.Name, err))
		case x.Remove:
			done.Removed++
		default:
			done.Entries++
		}
		return nil
	})
	defer a.Close()
	for {
		msg, err := w.Recv()
		if err != nil {
			return err
		}
		switch msg := msg.(type) {
		case protocol.Data:
			if msg.Stream != protocol.TypeBatch {
				return fmt.Errorf("%w: %s in a tree upload", transfer.ErrProtocol, msg.Stream)
			}
			if err := applyBatch(a, msg.Body); err != nil {
				return err
			}
		case protocol.Entry:
			if msg.Kind != protocol.KindFile {
				return fmt.Errorf("%w: a %s entry outside a batch", transfer.ErrProtocol, msg.Kind)
			}
			e := msg
			res, err := transfer.ReceiveFile(w, e, m.Resume, func() (*transfer.Part, error) { return r.File(e) },
				transfer.Hooks{Failed: entryFailed})
			c.xaudit.fileBytes(metrics.DirIn, res.Bytes)
			done.Bytes += res.Bytes
			switch {
			case errors.As(err, new(*transfer.FileError)):
			case err != nil:
				return err
			default:
				done.Entries++
			}
		case protocol.TreeEnd:
			if err := a.Finish(); err != nil {
				return err
			}
			c.log.Info("tree received", "path", m.Path, "entries", done.Entries, "failed", done.Failed,
				"removed", done.Removed, "bytes", done.Bytes)
			return w.Send(done)
		default:
			return fmt.Errorf("%w: %s in a tree upload", transfer.ErrProtocol, msg.Type())
		}
	}
}

// applyBatch parses one batch of a tree upload and hands it to the
// Applier, which reports each entry once it is durable or failed.
func applyBatch(a *transfer.Applier, body []byte) error {
	items, err := transfer.ParseBatch(body, true)
	if err != nil {
		return err
	}
	err = a.Apply(items)
	if errors.Is(err, transfer.ErrBadName) {
		return fmt.Errorf("%w: %v", transfer.ErrProtocol, err)
	}
	return err
}

// dropTree reads and drops a tree upload up to its tree_end.
func dropTree(w xferWire) error {
	for {
		m, err := w.Recv()
		if err != nil {
			return err
		}
		if _, ok := m.(protocol.TreeEnd); ok {
			return nil
		}
	}
}

// readSelection reads a get's selection: names frames up to names_end,
// at most protocol.MaxSelect names and MaxSelectBytes bytes.
func readSelection(w xferWire) (map[string]bool, error) {
	sel := map[string]bool{}
	var size int
	for {
		m, err := w.Recv()
		if err != nil {
			return nil, err
		}
		switch m := m.(type) {
		case protocol.NamesEnd:
			return sel, nil
		case protocol.Data:
			if m.Stream != protocol.TypeNames {
				return nil, fmt.Errorf("%w: %s in a selection", transfer.ErrProtocol, m.Stream)
			}
			names, err := transfer.ParseNames(m.Body)
			if err != nil {
				return nil, fmt.Errorf("%w: selection: %v", transfer.ErrProtocol, err)
			}
			size += len(m.Body)
			for _, n := range names {
				sel[n] = true
			}
			if len(sel) > protocol.MaxSelect || size > protocol.MaxSelectBytes {
				return nil, fmt.Errorf("%w: a selection over %d names or %d bytes", transfer.ErrProtocol,
					protocol.MaxSelect, protocol.MaxSelectBytes)
			}
		default:
			return nil, fmt.Errorf("%w: %s in a selection", transfer.ErrProtocol, m.Type())
		}
	}
}

// serveGetTree sends a tree in batches (get with batch), or only the
// selected files and links with every directory (get with select); with
// count, its size first (tree_size).
func (c *serverConn) serveGetTree(m protocol.Get, p string) error {
	w := xferWire{c}
	var sel map[string]bool
	if m.Select {
		var err error
		if sel, err = readSelection(w); err != nil {
			return err
		}
	}
	if m.Count {
		var keep func(string) bool
		if sel != nil {
			keep = func(name string) bool { return sel[name] }
		}
		files, bytes := transfer.Measure(p, m.Recursive, keep)
		if err := w.Send(protocol.TreeSize{Files: files, Bytes: bytes}); err != nil {
			return err
		}
	}
	ts := &transfer.TreeSender{W: w, Resume: m.Resume}
	ts.Sent = func(_, _ string, n int64) { c.xaudit.fileBytes(metrics.DirOut, n) }
	ts.Hooks.Progress = func(n int64) { c.xaudit.fileBytes(metrics.DirOut, n) }
	tell := func(name string, err error) error {
		shown := getName(m.Path, name)
		c.xaudit.failed(shown + ": " + transfer.Reason(err))
		if err := ts.Flush(); err != nil {
			return err
		}
		return w.Send(errorFor(shown, err))
	}
	err := transfer.Walk(p, m.Recursive, func(name, local string, e protocol.Entry, err error) error {
		if err != nil {
			return tell(name, err)
		}
		if sel != nil && e.Kind != protocol.KindDir && !sel[name] {
			return nil
		}
		if e.Kind != protocol.KindFile {
			return ts.Entry(e)
		}
		_, told, err := ts.File(name, local)
		var fe *transfer.FileError
		switch {
		case errors.As(err, &fe) && told:
			c.xaudit.failed(getName(m.Path, name) + ": " + transfer.Reason(fe.Err))
			return nil
		case errors.As(err, &fe):
			return tell(name, fe.Err)
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := ts.Flush(); err != nil {
		return err
	}
	return w.Send(protocol.GetEnd{})
}

// serveList sends the manifest of a directory: its entries in listing
// frames (no content; with checksum each file's digest), then list_end.
// A path that is not a directory is one error, and no list_end.
func (c *serverConn) serveList(m protocol.List) error {
	w := xferWire{c}
	p, err := resolvePath(m.Path)
	if c.key.Options.NoFileTransfer {
		err = errNoFileTransfer
	}
	var fi os.FileInfo
	if err == nil {
		fi, err = os.Stat(p)
	}
	if err == nil && !fi.IsDir() {
		err = &transfer.FileError{Code: protocol.CodeIO, Err: transfer.ErrNotDir}
	}
	if err != nil {
		c.xaudit.failed(transfer.Reason(err))
		return w.Send(errorFor(shown(m.Path), err))
	}
	err = transfer.List(p, m.Checksum, func(body []byte) error {
		return w.Send(protocol.Data{Stream: protocol.TypeListing, Body: body})
	}, func(name string, err error) error {
		c.xaudit.failed(getName(m.Path, name) + ": " + transfer.Reason(err))
		return w.Send(errorFor(getName(m.Path, name), err))
	})
	if err != nil {
		return err
	}
	return w.Send(protocol.ListEnd{})
}
