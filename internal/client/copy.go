package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transfer"
)

// CopyOptions shape a Put or Get (rexec cp). The zero value copies one
// file, from scratch, silently.
type CopyOptions struct {
	// Recursive copies directory trees (-r); without it a directory is a
	// file error.
	Recursive bool
	// Resume continues a partial file left by an interrupted copy of the
	// same source version, after verifying it chunk by chunk.
	Resume bool
	// Start, when non-nil, is called as each file's data begins, with the
	// file's name as shown to the user, its length and the offset a
	// resume starts from. The returned function, if non-nil, is called
	// with each count of bytes sent or received.
	Start func(name string, length, offset int64) func(n int64)
	// Done, when non-nil, is called once per entry that ended: its name
	// as shown to the user, its kind (protocol.KindFile, ...; empty for a
	// failure the server reports without an entry), and err, nil or a
	// *transfer.FileError (the copy goes on after it). For a file, res
	// tells how many bytes crossed the wire and where a resume started.
	Done func(name, kind string, res transfer.Result, err error)
	// Progress, when non-nil, is called as a tree transfer (PutTree, a
	// recursive Get, a sync) moves files: with 1 for each file complete
	// (0 for a count of bytes alone) and the file bytes that crossed the
	// wire or that a resume kept. It feeds one bar for the whole transfer.
	Progress func(files int, n int64)
	// Total, when non-nil, is told what a tree transfer will move, once
	// that is known, for the same bar: a recursive Get asks the server
	// to count first (get with count, tree_size), a sync calls it with
	// its plan. Without it nothing is counted.
	Total func(files int, bytes int64)
	// Select, when non-nil, makes a recursive Get ask for these names
	// only (and every directory): sync's download of what changed.
	Select []string
}

func (o CopyOptions) done(name, kind string, res transfer.Result, err error) {
	if o.Done != nil {
		o.Done(name, kind, res, err)
	}
}

// CopySummary counts what a Put or Get did.
type CopySummary struct {
	Entries int   // entries that arrived
	Failed  int   // entries that failed (each reported to Done)
	Removed int   // entries removed (sync --delete)
	Bytes   int64 // file bytes that crossed the wire
}

func (s *CopySummary) add(res transfer.Result, err error) {
	s.Bytes += res.Bytes
	if err != nil {
		s.Failed++
	} else {
		s.Entries++
	}
}

// remoteFileError turns a non-fatal error frame whose message names the
// server's file into the failure of one entry, shown as HOST:message.
func (c *Conn) remoteFileError(m protocol.Error) *transfer.FileError {
	return &transfer.FileError{Code: m.Code, Err: errors.New(c.target.Host + ":" + m.Message)}
}

// Stat asks what is at path on the server (following symbolic links). A
// path that cannot be examined (not_found, permission, denied) is a
// *transfer.FileError; a failure of the connection is an *Error. An
// answer that names anything but the path's own last component
// (RequestedName) is a protocol violation: the connection is closed.
func (c *Conn) Stat(ctx context.Context, path string) (protocol.StatResult, error) {
	return c.stat(ctx, protocol.Stat{Path: path})
}

// StatDigest is Stat with the file digest of a file (PROTOCOL.md §8.6)
// in the answer's Digest, which the server reads the file to compute:
// sync --checksum of a single file.
func (c *Conn) StatDigest(ctx context.Context, path string) (protocol.StatResult, error) {
	return c.stat(ctx, protocol.Stat{Path: path, Checksum: true})
}

func (c *Conn) stat(ctx context.Context, req protocol.Stat) (protocol.StatResult, error) {
	path := req.Path
	stop := context.AfterFunc(ctx, func() { c.pc.Close() })
	defer stop()
	if err := c.pc.Send(req); err != nil {
		return protocol.StatResult{}, c.sendError("sending stat", err)
	}
	for {
		m, err := c.recv()
		if err != nil {
			return protocol.StatResult{}, err
		}
		switch m := m.(type) {
		case protocol.StatResult:
			if err := checkStatName(path, m.Name); err != nil {
				c.pc.Close()
				return protocol.StatResult{}, newError(outcome.ProtocolError, c.target.String(), err)
			}
			return m, nil
		case protocol.Error:
			if protocol.Fatal(m.Code) {
				return protocol.StatResult{}, c.remoteError(m)
			}
			return protocol.StatResult{}, c.remoteFileError(m)
		default:
			return protocol.StatResult{}, c.unexpected(m)
		}
	}
}

// recv reads the next message of a copy, answering pings on the way.
func (c *Conn) recv() (protocol.Message, error) {
	return c.recvFor("connection lost during the copy", 0)
}

func (c *Conn) unexpected(m protocol.Message) error {
	return newError(outcome.ProtocolError, c.target.String(), fmt.Errorf("unexpected %s from server", m.Type()))
}

// copyError classifies a fatal error of a copy: a violation by the
// server, or a lost connection. *Error values pass through.
func (c *Conn) copyError(err error) error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return err
	case errors.Is(err, transfer.ErrProtocol):
		return newError(outcome.ProtocolError, c.target.String(), err)
	}
	return c.recvError("connection lost during the copy", err)
}

// getWire is the connection as a downloaded file's stream sees it.
type getWire struct{ c *Conn }

func (w getWire) Send(m protocol.Message) error { return w.c.pc.Send(m) }
func (w getWire) Recv() (protocol.Message, error) {
	m, err := w.c.recv()
	if e, ok := m.(protocol.Error); ok && err == nil {
		return nil, w.c.remoteError(e) // no error belongs inside a file's stream
	}
	return m, err
}

// Get downloads path from the server into the local directory dir, under
// the name top, which the caller chooses (the entry "." is dir/top,
// everything below it goes inside); no name the server sends picks a
// local name. Without Recursive the answer must be the one file asked
// for; with it, a tree below "." (getAnswer). Every entry is checked
// before anything is written for it, and an entry that is not part of
// what was asked (another name, an absolute or ".." name, an entry below
// a link the answer sent, anything after ".") ends the Get as a
// protocol violation, the connection closed, nothing written for it or
// after it. Every name is also confined to dir/top (transfer.Receiver,
// os.Root), and no link is followed. Failures of single entries go to
// o.Done and are counted; the error is an *Error when the connection
// failed, or a *transfer.FileError when dir itself cannot be written.
func (c *Conn) Get(ctx context.Context, path, dir, top string, o CopyOptions) (CopySummary, error) {
	var sum CopySummary
	r, err := transfer.OpenReceiver(dir, top)
	if err != nil {
		return sum, transfer.NewFileError(dir, err)
	}
	defer r.Close()
	stop := context.AfterFunc(ctx, func() { c.pc.Close() })
	defer stop()
	get := protocol.Get{Path: path, Recursive: o.Recursive, Resume: o.Resume, Batch: o.Recursive,
		Select: o.Select != nil, Count: o.Recursive && o.Total != nil}
	if err := c.pc.Send(get); err != nil {
		return sum, c.sendError("sending get", err)
	}
	if o.Select != nil {
		if err := c.sendSelection(o.Select); err != nil {
			return sum, err
		}
	}
	g := &getter{c: c, r: r, o: o, dir: dir, top: top, sum: &sum, answer: getAnswer{tree: o.Recursive}}
	defer g.close()
	for first := true; ; first = false {
		m, err := c.recv()
		if err != nil {
			return sum, err
		}
		switch m := m.(type) {
		case protocol.TreeSize:
			if !first || !get.Count {
				err = c.unexpected(m)
			} else {
				o.Total(int(min(m.Files, maxListed)), m.Bytes)
			}
		case protocol.Entry:
			err = g.entry(m)
		case protocol.Data:
			if m.Stream != protocol.TypeBatch || !o.Recursive {
				err = c.unexpected(m)
			} else {
				err = g.batch(m.Body)
			}
		case protocol.Error:
			if protocol.Fatal(m.Code) {
				return sum, c.remoteError(m)
			}
			fe := c.remoteFileError(m)
			sum.add(transfer.Result{}, fe)
			o.done("", "", transfer.Result{}, fe)
		case protocol.GetEnd:
			return sum, g.finish()
		default:
			err = c.unexpected(m)
		}
		if err != nil {
			err = c.copyError(err)
			if OutcomeOf(err) == outcome.ProtocolError {
				c.pc.Close() // what follows cannot be trusted (§8.5)
			}
			return sum, err
		}
	}
}

// getter is the state of one Get.
type getter struct {
	c        *Conn
	r        *transfer.Receiver
	o        CopyOptions
	dir, top string
	sum      *CopySummary
	answer   getAnswer
	apply    *transfer.Applier // the batches', from the first batch on
}

// finish makes the batches received durable and reports their entries.
func (g *getter) finish() error {
	if g.apply == nil {
		return nil
	}
	return g.apply.Finish()
}

// close drops what a broken get staged and not yet put in place.
func (g *getter) close() {
	if g.apply != nil {
		g.apply.Close()
	}
}

// shown is the local path of an entry, for messages.
func (g *getter) shown(name string) string {
	p := g.dir + "/" + g.top
	if name != "." {
		p += "/" + name
	}
	return p
}

func (g *getter) entry(e protocol.Entry) error {
	if err := g.answer.admit(e.Name, e.Kind); err != nil {
		return err
	}
	var res transfer.Result
	var err error
	switch e.Kind {
	case protocol.KindFile:
		res, err = g.file(e)
	case protocol.KindDir:
		err = g.r.Dir(e)
	case protocol.KindSymlink:
		err = g.r.Symlink(e)
	}
	if errors.Is(err, transfer.ErrBadName) {
		return fmt.Errorf("%w: %v", transfer.ErrProtocol, err)
	}
	var fe *transfer.FileError
	if err != nil && !errors.As(err, &fe) {
		if e.Kind == protocol.KindFile {
			return err // the conversation broke
		}
		fe = transfer.NewFileError(g.shown(e.Name), err)
	}
	if fe != nil {
		err = &transfer.FileError{Name: g.shown(e.Name), Code: fe.Code, Err: fe.Err}
	}
	g.sum.add(res, err)
	g.o.done(g.shown(e.Name), e.Kind, res, err)
	return nil
}

func (g *getter) file(e protocol.Entry) (transfer.Result, error) {
	var progress func(int64)
	hooks := transfer.Hooks{
		Started: func(off int64) {
			if g.o.Start != nil {
				progress = g.o.Start(g.shown(e.Name), e.Length, off)
			}
			if g.o.Progress != nil && off > 0 {
				g.o.Progress(0, off)
			}
		},
		Progress: func(n int64) {
			if progress != nil {
				progress(n)
			}
			if g.o.Progress != nil {
				g.o.Progress(0, n)
			}
		},
	}
	open := func() (*transfer.Part, error) { return g.r.File(e) }
	res, err := transfer.ReceiveFile(getWire{g.c}, e, g.o.Resume, open, hooks)
	if err == nil && g.o.Progress != nil {
		g.o.Progress(1, 0)
	}
	return res, err
}
