package transfer

import (
	"errors"
	"fmt"
	"io"

	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/protocol/frame"
)

// MaxBatchEntries bounds the entries of one batch (PROTOCOL.md §8.10): a
// receiver holds a temporary file open per file of the batch until the
// batch is durable, and this keeps that far below any descriptor limit.
const MaxBatchEntries = 1024

// batchReserve is room kept in a batch body for one entry's frames besides
// the file's bytes (three headers of at most a few hundred bytes each
// plus a name and a link target of at most MaxName bytes each).
const batchReserve = 3*frame.PrefixSize + 2*MaxName + 512

// Batch builds the body of one batch frame: entries (directories, links,
// small files with their bytes and digest) and removals, each as the
// frames it would be sent as on its own. It is used by one goroutine.
type Batch struct {
	buf     []byte
	entries int
	bytes   int64 // file bytes in the batch
	scratch []byte
}

// Len is the number of entries in the batch.
func (b *Batch) Len() int { return b.entries }

// Bytes is the number of file bytes in the batch.
func (b *Batch) Bytes() int64 { return b.bytes }

// Body is the batch frame's body; valid until the next change.
func (b *Batch) Body() []byte { return b.buf }

// Reset empties the batch, keeping its storage.
func (b *Batch) Reset() { b.buf, b.entries, b.bytes = b.buf[:0], 0, 0 }

// Fits reports whether one more entry with n bytes of content fits.
func (b *Batch) Fits(n int64) bool {
	return b.entries < MaxBatchEntries && int64(len(b.buf))+n+batchReserve <= frame.MaxBodySize
}

// Small reports whether a file of n bytes travels inside a batch.
func Small(n int64) bool { return n <= protocol.BatchFileMax }

// AddEntry adds a directory or symbolic link entry.
func (b *Batch) AddEntry(e protocol.Entry) error {
	return b.add(func(buf []byte) ([]byte, error) { return protocol.AppendFrame(buf, e) })
}

// AddRemove adds the removal of name.
func (b *Batch) AddRemove(name string) error {
	return b.add(func(buf []byte) ([]byte, error) { return protocol.AppendFrame(buf, protocol.Remove{Name: name}) })
}

// AddFile reads the small file src (opened, not yet read) and adds it
// under name with its bytes and file digest. A failure to read it, or a
// change while it was read, leaves the batch as it was and is returned.
func (b *Batch) AddFile(src *Source, name string) error {
	n := src.Length()
	if cap(b.scratch) < int(n) {
		b.scratch = make([]byte, n)
	}
	data := b.scratch[:n]
	if _, err := io.ReadFull(io.NewSectionReader(src.f, 0, n), data); err != nil {
		return src.readError(err)
	}
	src.pos = n
	_, _ = src.h.Write(data)
	digest, err := src.Finish()
	if err != nil {
		return err
	}
	e := src.Entry(name)
	err = b.add(func(buf []byte) ([]byte, error) {
		buf, err := protocol.AppendFrame(buf, e)
		if err == nil && n > 0 {
			buf, err = protocol.AppendFrame(buf, protocol.Data{Stream: protocol.TypeFileData, Body: data})
		}
		if err == nil {
			buf, err = protocol.AppendFrame(buf, protocol.FileEnd{Hash: protocol.HashBLAKE3, Digest: digest})
		}
		return buf, err
	})
	if err == nil {
		b.bytes += n
	}
	return err
}

func (b *Batch) add(f func([]byte) ([]byte, error)) error {
	mark := len(b.buf)
	buf, err := f(b.buf)
	if err != nil {
		b.buf = b.buf[:mark]
		return err
	}
	b.buf = buf
	b.entries++
	return nil
}

// BatchItem is one entry of a received batch.
type BatchItem struct {
	Entry  protocol.Entry // for a removal, only Name is set
	Remove bool
	Data   []byte // a file's bytes
	Digest string // a file's file digest
}

// ParseBatch splits a batch body into its items, checking the structure
// of PROTOCOL.md §8.10: each item is a dir or symlink entry alone, a file
// entry followed by one file_data (none for an empty file) of exactly its
// length and a file_end with a digest, or (only when removals are allowed)
// a remove; at most MaxBatchEntries items, at least one. Anything else is
// ErrProtocol. Names are not checked here: the receiver checks each
// before it touches the file system.
func ParseBatch(body []byte, removals bool) ([]BatchItem, error) {
	var items []BatchItem
	var cur *BatchItem // a file waiting for its data or end
	err := protocol.EachInner(body, func(m protocol.Message) error {
		if cur != nil {
			return fileItem(cur, m, &items, &cur)
		}
		if len(items) >= MaxBatchEntries {
			return fmt.Errorf("more than %d entries in a batch", MaxBatchEntries)
		}
		switch m := m.(type) {
		case protocol.Entry:
			if m.Digest != "" {
				return errors.New("an entry of a batch carries no digest")
			}
			if m.Kind == protocol.KindFile {
				if m.Length > protocol.BatchFileMax {
					return fmt.Errorf("%d-byte file in a batch (at most %d)", m.Length, protocol.BatchFileMax)
				}
				cur = &BatchItem{Entry: m}
				return nil
			}
			items = append(items, BatchItem{Entry: m})
		case protocol.Remove:
			if !removals {
				return errors.New("remove in a batch that cannot carry one")
			}
			items = append(items, BatchItem{Entry: protocol.Entry{Name: m.Name}, Remove: true})
		default:
			return fmt.Errorf("%s in a batch", m.Type())
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, protocolError("batch: %v", err)
	case cur != nil:
		return nil, protocolError("batch: %s ends without file_end", cur.Entry.Name)
	case len(items) == 0:
		return nil, protocolError("empty batch")
	}
	return items, nil
}

// fileItem takes the next inner message of the file cur.
func fileItem(cur *BatchItem, m protocol.Message, items *[]BatchItem, next **BatchItem) error {
	switch m := m.(type) {
	case protocol.Data:
		if m.Stream != protocol.TypeFileData || cur.Data != nil || int64(len(m.Body)) != cur.Entry.Length || len(m.Body) == 0 {
			return fmt.Errorf("%s: file_data must be one frame of the file's %d bytes", cur.Entry.Name, cur.Entry.Length)
		}
		cur.Data = m.Body
		return nil
	case protocol.FileEnd:
		if m.Digest == "" || int64(len(cur.Data)) != cur.Entry.Length {
			return fmt.Errorf("%s: a file of a batch ends with its digest after all its bytes", cur.Entry.Name)
		}
		cur.Digest = m.Digest
		*items = append(*items, *cur)
		*next = nil
		return nil
	}
	return fmt.Errorf("%s inside a file of a batch", m.Type())
}
