package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transfer"
)

// putWindow bounds the puts sent and not yet answered: the server serves
// them in order, so a tree of small files flows without a round trip per
// file, and the replies waiting to be read stay few.
const putWindow = 64

// PutItem is one local source of a Put.
type PutItem struct {
	Local string // its path on this machine; a symbolic link is followed
	Name  string // its name in the remote directory: one path component
}

// Put uploads items into the server directory dir (relative to the
// remote home unless absolute), each as Name, trees with o.Recursive. The
// server checks and places every entry; failures of single entries go to
// o.Done and are counted, and the copy goes on. The error is an *Error
// when the connection failed (the server keeps the partial file of an
// interrupted file, for o.Resume).
//
// A tree (o.Recursive) or several items go as one tree upload (PutTree):
// no reply per entry, small files batched and made durable together. One
// file alone goes as a put, answered when it is durable.
func (c *Conn) Put(ctx context.Context, dir string, items []PutItem, o CopyOptions) (CopySummary, error) {
	if o.Recursive || len(items) > 1 {
		return c.PutTree(ctx, dir, items, nil, o)
	}
	p := &putter{c: c, dir: dir, o: o, msgs: make(chan inbound, putWindow+8),
		tokens: make(chan struct{}, putWindow+1), quit: make(chan struct{}), readerDone: make(chan struct{})}
	stop := context.AfterFunc(ctx, func() { c.pc.Close() })
	defer stop()
	go p.read()
	err := p.run(items)
	p.closeTokens()
	if err == nil {
		err = p.drain()
	}
	if err != nil {
		close(p.quit)
		c.pc.Close() // the reader may be waiting for a reply that will not come
	}
	<-p.readerDone
	if err != nil && ctx.Err() != nil {
		err = newError(outcome.ConnectionLost, c.target.String(), context.Cause(ctx))
	}
	if err != nil {
		err = c.copyError(err)
	}
	return p.sum, err
}

// inbound is a message (or the error that ended reading) from the reader.
type inbound struct {
	m   protocol.Message
	err error
}

// putter is the state of one Put. The calling goroutine owns everything
// but the reader's channels: it sends, and it handles what the reader
// passes on. The reader reads only while a reply is owed (one token per
// put sent), so after the last reply the connection is free again.
type putter struct {
	c   *Conn
	dir string
	o   CopyOptions
	sum CopySummary

	msgs       chan inbound  // reader -> sender, in wire order
	tokens     chan struct{} // sender -> reader: one per reply owed
	quit       chan struct{} // closed when the sender gives up
	readerDone chan struct{}
	tokensOnce sync.Once

	pending []*putEntry        // sent, reply not yet handled, in order
	cur     *putEntry          // the file being streamed
	hs      []protocol.Message // handshake messages for cur
	fatal   error              // found while polling during a stream
}

// putEntry is one put on its way.
type putEntry struct {
	shown    string // the remote path, for messages
	kind     string
	res      transfer.Result
	ended    bool // its stream is complete
	answered bool // its reply arrived
	local    error
	remote   *transfer.FileError
}

func (p *putter) read() {
	defer close(p.readerDone)
	defer close(p.msgs)
	for range p.tokens {
		for {
			m, err := p.c.pc.Recv()
			if err != nil {
				p.deliver(inbound{err: err})
				return
			}
			if ping, err := p.c.answerPing(m); ping {
				if err != nil {
					p.deliver(inbound{err: err})
					return
				}
				continue
			}
			if d, ok := m.(protocol.Data); ok {
				d.Body = append([]byte(nil), d.Body...) // valid past the next Recv
				m = d
			}
			if !p.deliver(inbound{m: m}) {
				return
			}
			if _, ok := m.(protocol.PutOK); ok {
				break
			}
			if _, ok := m.(protocol.Error); ok {
				break
			}
		}
	}
}

func (p *putter) deliver(in inbound) bool {
	select {
	case p.msgs <- in:
		return true
	case <-p.quit:
		return false
	}
}

func (p *putter) closeTokens() { p.tokensOnce.Do(func() { close(p.tokens) }) }

// run walks every item and sends its entries.
func (p *putter) run(items []PutItem) error {
	for _, it := range items {
		err := transfer.Walk(it.Local, p.o.Recursive, func(name, local string, e protocol.Entry, err error) error {
			wname := it.Name
			if name != "." {
				wname += "/" + name
			}
			switch {
			case err != nil:
				p.localFailure(local, err)
				return nil
			case e.Kind == protocol.KindFile:
				return p.putFile(wname, local)
			}
			_, err = p.send(protocol.Put{Path: p.dir, Name: wname, Kind: e.Kind, Mode: e.Mode,
				MtimeNS: e.MtimeNS, Target: e.Target}, true)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *putter) localFailure(name string, err error) {
	fe := &transfer.FileError{Name: name, Code: transfer.CodeOf(err), Err: errors.New(transfer.Reason(err))}
	p.sum.add(transfer.Result{}, fe)
	p.o.done(name, "", transfer.Result{}, fe)
}

// remotePath is how the server's file is named in messages.
func (p *putter) remotePath(name string) string {
	switch {
	case p.dir == "":
		return p.c.target.Host + ":" + name
	case strings.HasSuffix(p.dir, "/"):
		return p.c.target.Host + ":" + p.dir + name
	}
	return p.c.target.Host + ":" + p.dir + "/" + name
}

// send sends one put within the window and queues it for its reply.
func (p *putter) send(put protocol.Put, ended bool) (*putEntry, error) {
	for len(p.pending) >= putWindow {
		if err := p.next(); err != nil {
			return nil, err
		}
	}
	if err := p.c.pc.Send(put); err != nil {
		return nil, err
	}
	p.tokens <- struct{}{}
	e := &putEntry{shown: p.remotePath(put.Name), kind: put.Kind, ended: ended}
	p.pending = append(p.pending, e)
	return e, nil
}

func (p *putter) putFile(wname, local string) error {
	src, err := transfer.OpenSource(local)
	if err != nil {
		p.localFailure(local, err)
		return nil
	}
	defer src.Close()
	e := src.Entry(wname)
	cur, err := p.send(protocol.Put{Path: p.dir, Name: wname, Kind: e.Kind, Length: e.Length,
		Mode: e.Mode, MtimeNS: e.MtimeNS, Resume: p.o.Resume}, false)
	if err != nil {
		return err
	}
	p.cur = cur
	res, err := transfer.SendFile(putWire{p}, src, wname, p.o.Resume, p.hooks(local, e.Length))
	p.cur, p.hs = nil, nil
	cur.res, cur.ended = res, true
	if p.fatal != nil {
		return p.fatal
	}
	var fe *transfer.FileError
	switch {
	case errors.As(err, &fe):
		if cur.remote == nil {
			cur.local = &transfer.FileError{Name: local, Code: fe.Code, Err: fe.Err}
		}
	case err != nil:
		return err
	}
	if cur.answered {
		p.finish(cur)
	}
	return nil
}

func (p *putter) hooks(local string, length int64) transfer.Hooks {
	var progress func(int64)
	return transfer.Hooks{
		Started: func(off int64) {
			if p.o.Start != nil {
				progress = p.o.Start(local, length, off)
			}
		},
		Progress: func(n int64) {
			if progress != nil {
				progress(n)
			}
		},
		Stopped: func() bool {
			if err := p.poll(); err != nil {
				p.fatal = err
				return true
			}
			return p.cur.remote != nil
		},
	}
}

// next handles the next message from the reader, waiting for it.
func (p *putter) next() error {
	in, ok := <-p.msgs
	if !ok {
		return fmt.Errorf("%w: the connection ended", errConnEnded)
	}
	return p.handle(in)
}

var errConnEnded = errors.New("client: connection ended")

// poll handles the messages already there without waiting.
func (p *putter) poll() error {
	for {
		select {
		case in, ok := <-p.msgs:
			if !ok {
				return fmt.Errorf("%w: the connection ended", errConnEnded)
			}
			if err := p.handle(in); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

func (p *putter) handle(in inbound) error {
	if in.err != nil {
		return in.err
	}
	switch m := in.m.(type) {
	case protocol.PutOK:
		return p.reply(nil)
	case protocol.Error:
		if protocol.Fatal(m.Code) {
			return p.c.remoteError(m)
		}
		return p.reply(&transfer.FileError{Code: m.Code, Err: errors.New(m.Message)})
	case protocol.FileHave, protocol.Data:
		if p.cur == nil {
			return p.c.unexpected(m)
		}
		p.hs = append(p.hs, m)
		return nil
	}
	return p.c.unexpected(in.m)
}

// reply takes the reply of the oldest pending put.
func (p *putter) reply(fe *transfer.FileError) error {
	if len(p.pending) == 0 {
		return fmt.Errorf("%w: a reply to no put", transfer.ErrProtocol)
	}
	e := p.pending[0]
	if fe == nil && !e.ended {
		return fmt.Errorf("%w: put_ok before the file's end", transfer.ErrProtocol)
	}
	p.pending = p.pending[1:]
	e.answered, e.remote = true, fe
	if fe != nil {
		fe.Name = e.shown
	}
	if e.ended {
		p.finish(e)
	}
	return nil
}

// finish reports one put that is both complete and answered.
func (p *putter) finish(e *putEntry) {
	var err error
	switch {
	case e.local != nil:
		err = e.local
	case e.remote != nil:
		err = e.remote
	}
	p.sum.add(e.res, err)
	p.o.done(e.shown, e.kind, e.res, err)
}

// drain handles the replies still owed once everything is sent.
func (p *putter) drain() error {
	for len(p.pending) > 0 {
		if err := p.next(); err != nil {
			return err
		}
	}
	return nil
}

// putWire is the connection as an uploaded file's stream sees it: what
// the server sends arrives through the reader, interleaved with replies
// to earlier puts, which are handled on the way.
type putWire struct{ p *putter }

func (w putWire) Send(m protocol.Message) error { return w.p.c.pc.Send(m) }

func (w putWire) Recv() (protocol.Message, error) {
	for len(w.p.hs) == 0 {
		if err := w.p.next(); err != nil {
			return nil, err
		}
	}
	m := w.p.hs[0]
	w.p.hs = w.p.hs[1:]
	return m, nil
}
