package client

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transfer"
)

// PutTree uploads items into the server directory dir as one tree upload
// (PROTOCOL.md §8.10): no reply per entry, small files, directories and
// links in batches made durable together, large files streamed (resumed
// with o.Resume). Removals (sync --delete) go first, in order. Failures
// of single entries go to o.Done and are counted; the error is an *Error
// when the connection failed, or a *transfer.FileError when dir itself
// cannot be written.
func (c *Conn) PutTree(ctx context.Context, dir string, items []PutItem, removals []string, o CopyOptions) (CopySummary, error) {
	return c.putTree(ctx, dir, o, func(t *treePut) error {
		for _, name := range removals {
			if err := t.ts.Remove(name); err != nil {
				return err
			}
		}
		for _, it := range items {
			if err := t.walk(it, o.Recursive); err != nil {
				return err
			}
		}
		return nil
	})
}

// PutEntries uploads exactly the given local files, links and directories
// (sync's plan) as one tree upload: each is a path on this machine and
// the name it gets below dir, directories after their contents.
func (c *Conn) PutEntries(ctx context.Context, dir string, entries []PutItem, removals []string, o CopyOptions) (CopySummary, error) {
	return c.putTree(ctx, dir, o, func(t *treePut) error {
		for _, name := range removals {
			if err := t.ts.Remove(name); err != nil {
				return err
			}
		}
		for _, it := range entries {
			if err := t.one(it); err != nil {
				return err
			}
		}
		return nil
	})
}

// one sends one local item as it is, a directory without its contents.
func (t *treePut) one(it PutItem) error {
	if err := t.poll(); err != nil {
		return err
	}
	fi, err := os.Lstat(it.Local)
	var e protocol.Entry
	if err == nil {
		e, err = transfer.EntryOf(it.Name, it.Local, fi)
	}
	if err != nil {
		t.localFailure(it.Local, err)
		return nil
	}
	return t.send(it.Name, it.Local, e)
}

func (c *Conn) putTree(ctx context.Context, dir string, o CopyOptions, send func(*treePut) error) (CopySummary, error) {
	t := &treePut{c: c, o: o, msgs: make(chan inbound, 64), quit: make(chan struct{}), readerDone: make(chan struct{})}
	t.ts = &transfer.TreeSender{W: treeWire{t}, Resume: o.Resume, Sent: t.sent}
	t.ts.Hooks.Progress = func(n int64) { t.progress(0, n) }
	t.ts.Hooks.Started = func(off int64) {
		if o.Progress != nil && off > 0 {
			o.Progress(0, off) // kept by a resume: on the bar, not on the wire
		}
	}
	stop := context.AfterFunc(ctx, func() { c.pc.Close() })
	defer stop()
	if err := c.pc.Send(protocol.PutTree{Path: dir, Resume: o.Resume}); err != nil {
		return t.sum, c.sendError("sending put_tree", err)
	}
	go t.read()
	err := send(t)
	if err == nil || errors.Is(err, errTreeStopped) {
		err = t.finish()
	}
	if err != nil {
		close(t.quit)
		c.pc.Close()
	}
	<-t.readerDone
	switch {
	case err == nil:
	case ctx.Err() != nil:
		err = newError(outcome.ConnectionLost, c.target.String(), context.Cause(ctx))
	case errors.As(err, new(*transfer.FileError)):
	default:
		err = c.copyError(err)
	}
	return t.sum, err
}

// errTreeStopped: the server refused the destination; the walk stops.
var errTreeStopped = errors.New("client: the server refused the destination")

// treePut is the state of one tree upload. The calling goroutine sends;
// the reader passes on everything the server says.
type treePut struct {
	c          *Conn
	o          CopyOptions
	ts         *transfer.TreeSender
	sum        CopySummary
	msgs       chan inbound
	quit       chan struct{}
	readerDone chan struct{}
	hs         []protocol.Message // a large file's handshake messages
	refused    *transfer.FileError
	done       *protocol.TreeDone
}

func (t *treePut) read() {
	defer close(t.readerDone)
	defer close(t.msgs)
	for {
		m, err := t.c.pc.Recv()
		if err != nil {
			t.deliver(inbound{err: err})
			return
		}
		if ping, err := t.c.answerPing(m); ping {
			if err != nil {
				t.deliver(inbound{err: err})
				return
			}
			continue
		}
		if d, ok := m.(protocol.Data); ok {
			d.Body = append([]byte(nil), d.Body...)
			m = d
		}
		if !t.deliver(inbound{m: m}) {
			return
		}
		switch m := m.(type) {
		case protocol.TreeDone:
			return
		case protocol.Error:
			if protocol.Fatal(m.Code) {
				return
			}
		}
	}
}

func (t *treePut) deliver(in inbound) bool {
	select {
	case t.msgs <- in:
		return true
	case <-t.quit:
		return false
	}
}

// handle takes one message from the reader.
func (t *treePut) handle(in inbound) error {
	if in.err != nil {
		return in.err
	}
	switch m := in.m.(type) {
	case protocol.EntryError:
		if transfer.CheckName(m.Name) != nil {
			return fmt.Errorf("%w: entry_error names %q", transfer.ErrProtocol, m.Name)
		}
		fe := &transfer.FileError{Name: t.c.target.Host + ":" + m.Name, Code: m.Code, Err: errors.New(m.Message)}
		t.o.done(fe.Name, "", transfer.Result{}, fe)
		return nil
	case protocol.TreeDone:
		if t.done != nil || t.refused != nil {
			return t.c.unexpected(m)
		}
		t.done = &m
		return nil
	case protocol.Error:
		if protocol.Fatal(m.Code) || t.refused != nil || t.done != nil {
			return t.c.remoteError(m)
		}
		t.refused = t.c.remoteFileError(m)
		return nil
	case protocol.FileHave, protocol.Data:
		t.hs = append(t.hs, m)
		return nil
	}
	return t.c.unexpected(in.m)
}

// poll handles what the reader has without waiting; errTreeStopped once
// the server refused the destination.
func (t *treePut) poll() error {
	for {
		select {
		case in, ok := <-t.msgs:
			if !ok {
				return fmt.Errorf("%w: the connection ended", errConnEnded)
			}
			if err := t.handle(in); err != nil {
				return err
			}
		default:
			if t.refused != nil {
				return errTreeStopped
			}
			return nil
		}
	}
}

func (t *treePut) next() error {
	in, ok := <-t.msgs
	if !ok {
		return fmt.Errorf("%w: the connection ended", errConnEnded)
	}
	return t.handle(in)
}

// walk sends one source: with tree, everything below it.
func (t *treePut) walk(it PutItem, tree bool) error {
	return transfer.Walk(it.Local, tree, func(name, local string, e protocol.Entry, err error) error {
		if perr := t.poll(); perr != nil {
			return perr
		}
		wname := it.Name
		if name != "." {
			wname += "/" + name
		}
		if err != nil {
			t.localFailure(local, err)
			return nil
		}
		return t.send(wname, local, e)
	})
}

// send sends one entry under the name wname.
func (t *treePut) send(wname, local string, e protocol.Entry) error {
	if e.Kind != protocol.KindFile {
		e.Name = wname
		return t.ts.Entry(e)
	}
	_, told, err := t.ts.File(wname, local)
	var fe *transfer.FileError
	switch {
	case errors.As(err, &fe) && told:
		return nil // the server reports it (entry_error)
	case errors.As(err, &fe):
		t.localFailure(local, fe.Err)
		return nil
	}
	return err
}

func (t *treePut) localFailure(name string, err error) {
	fe := &transfer.FileError{Name: name, Code: transfer.CodeOf(err), Err: errors.New(transfer.Reason(err))}
	t.sum.add(transfer.Result{}, fe)
	t.o.done(name, "", transfer.Result{}, fe)
}

func (t *treePut) sent(_, kind string, n int64) {
	if kind == protocol.KindFile {
		t.progress(1, n)
	}
}

func (t *treePut) progress(files int, n int64) {
	t.sum.Bytes += n
	if t.o.Progress != nil {
		t.o.Progress(files, n)
	}
}

// finish ends the upload and waits for the server's tree_done (or its
// refusal of the destination).
func (t *treePut) finish() error {
	if t.refused == nil {
		if err := t.ts.Flush(); err != nil {
			return err
		}
	}
	if err := t.c.pc.Send(protocol.TreeEnd{}); err != nil {
		return err
	}
	for t.done == nil && t.refused == nil {
		if err := t.next(); err != nil {
			return err
		}
	}
	if t.refused != nil {
		t.sum.Failed++
		return t.refused
	}
	t.sum.Entries += int(t.done.Entries)
	t.sum.Failed += int(t.done.Failed)
	t.sum.Removed += int(t.done.Removed)
	t.sum.Bytes = max(t.sum.Bytes, 0)
	return nil
}

// treeWire is the connection as a large file's stream in a tree upload
// sees it: what the server sends comes through the reader, entry errors
// handled on the way.
type treeWire struct{ t *treePut }

func (w treeWire) Send(m protocol.Message) error { return w.t.c.pc.Send(m) }

func (w treeWire) Recv() (protocol.Message, error) {
	for len(w.t.hs) == 0 {
		if w.t.refused != nil {
			return nil, errTreeStopped
		}
		if err := w.t.next(); err != nil {
			return nil, err
		}
	}
	m := w.t.hs[0]
	w.t.hs = w.t.hs[1:]
	return m, nil
}
