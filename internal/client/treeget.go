package client

import (
	"errors"
	"fmt"

	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transfer"
)

// batch applies one batch of a recursive get (PROTOCOL.md §8.10). Every
// entry of it is checked against what was asked (getAnswer) before any is
// written: one that does not belong ends the get, nothing of the batch
// written. The batch then goes to the get's Applier, which writes it
// confined to the destination like every entry and makes it durable with
// the batches around it; each entry is reported to Done once it is
// durable (or failed).
func (g *getter) batch(body []byte) error {
	items, err := transfer.ParseBatch(body, false)
	if err != nil {
		return err
	}
	for _, it := range items {
		if err := g.answer.admit(it.Entry.Name, it.Entry.Kind); err != nil {
			return err
		}
	}
	if g.apply == nil {
		g.apply = g.r.NewApplier(g.applied)
	}
	if g.o.Progress != nil {
		for _, it := range items {
			if !it.Remove && it.Entry.Kind == protocol.KindFile {
				g.o.Progress(1, it.Entry.Length)
			}
		}
	}
	err = g.apply.Apply(items)
	if errors.Is(err, transfer.ErrBadName) {
		return fmt.Errorf("%w: %v", transfer.ErrProtocol, err)
	}
	return err
}

// applied reports one entry of a batch that is durable or failed.
func (g *getter) applied(x transfer.Applied, err error) error {
	r := transfer.Result{Bytes: x.Bytes}
	if err != nil {
		err = &transfer.FileError{Name: g.shown(x.Entry.Name), Code: transfer.CodeOf(err), Err: errors.New(transfer.Reason(err))}
	}
	g.sum.add(r, err)
	g.o.done(g.shown(x.Entry.Name), x.Entry.Kind, r, err)
	return nil
}

// sendSelection sends the names a selective get asks for, in names frames
// of at most one frame's body each, then names_end.
func (c *Conn) sendSelection(names []string) error {
	var body []byte
	for _, n := range names {
		if len(body)+len(n)+1 > transfer.MaxNamesBody {
			if err := c.pc.Send(protocol.Data{Stream: protocol.TypeNames, Body: body}); err != nil {
				return c.sendError("sending the selection", err)
			}
			body = body[:0]
		}
		body = transfer.AppendName(body, n)
	}
	if len(body) > 0 {
		if err := c.pc.Send(protocol.Data{Stream: protocol.TypeNames, Body: body}); err != nil {
			return c.sendError("sending the selection", err)
		}
	}
	if err := c.pc.Send(protocol.NamesEnd{}); err != nil {
		return c.sendError("sending the selection", err)
	}
	return nil
}
