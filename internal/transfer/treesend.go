package transfer

import (
	"errors"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// TreeSender sends the entries of a tree (PROTOCOL.md §8.10) without a
// reply per entry: directories, links, removals and small files go into
// batch frames, flushed when full; a large file first flushes the batch
// (order is kept), then goes as an entry and its stream (§8.6). The
// caller sends the header before (put_tree, get) and the end after
// (Flush, then tree_end or get_end). It is used by one goroutine.
type TreeSender struct {
	W      Wire
	Resume bool  // run the resume handshake for large files
	Hooks  Hooks // for large files' streams
	// Sent, when non-nil, is called for each entry as it is sent (into a
	// batch, or streamed) with its kind and its file bytes.
	Sent  func(name, kind string, n int64)
	batch Batch
}

// Entry queues a directory or symbolic link entry.
func (t *TreeSender) Entry(e protocol.Entry) error {
	if err := t.room(0); err != nil {
		return err
	}
	if err := t.batch.AddEntry(e); err != nil {
		return err
	}
	t.sent(e.Name, e.Kind, 0)
	return nil
}

// Remove queues the removal of name.
func (t *TreeSender) Remove(name string) error {
	if err := t.room(0); err != nil {
		return err
	}
	return t.batch.AddRemove(name)
}

// File sends the local file under name: into the batch when small, else
// as its own entry and stream. A failure of the file itself (unreadable,
// changed while read) is returned as a *FileError; told says whether the
// receiver already knows (a large file's stream ended with file_end and
// an error) or nothing of the file was sent. Any other error means the
// conversation broke.
func (t *TreeSender) File(name, local string) (res Result, told bool, err error) {
	src, err := OpenSource(local)
	if err != nil {
		return res, false, NewFileError(name, err)
	}
	defer src.Close()
	if Small(src.Length()) {
		if err := t.room(src.Length()); err != nil {
			return res, false, err
		}
		if err := t.batch.AddFile(src, name); err != nil {
			return res, false, NewFileError(name, err)
		}
		t.sent(name, protocol.KindFile, src.Length())
		return Result{Bytes: src.Length()}, false, nil
	}
	if err := t.Flush(); err != nil {
		return res, false, err
	}
	if err := t.W.Send(src.Entry(name)); err != nil {
		return res, false, err
	}
	res, err = SendFile(t.W, src, name, t.Resume, t.Hooks)
	if err == nil {
		t.sent(name, protocol.KindFile, 0) // its bytes went to Hooks.Progress
	}
	return res, err != nil, err
}

// Flush sends the queued batch, if any.
func (t *TreeSender) Flush() error {
	if t.batch.Len() == 0 {
		return nil
	}
	err := t.W.Send(protocol.Data{Stream: protocol.TypeBatch, Body: t.batch.Body()})
	t.batch.Reset()
	return err
}

// room flushes the batch when an entry with n bytes of content would not
// fit it.
func (t *TreeSender) room(n int64) error {
	if t.batch.Fits(n) {
		return nil
	}
	if t.batch.Len() == 0 {
		return errors.New("transfer: an entry larger than a batch")
	}
	return t.Flush()
}

func (t *TreeSender) sent(name, kind string, n int64) {
	if t.Sent != nil {
		t.Sent(name, kind, n)
	}
}
