package transfer

import (
	"errors"
	"io"
	"os"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// List walks the directory dir without following links and sends its
// manifest (PROTOCOL.md §8.11): an entry per item below it (not dir
// itself), packed into listing bodies handed to send, each at most one
// frame; files carry their length, and with checksum their file digest
// (read and hashed here). An item that cannot be listed goes to fail
// with its name; the walk goes on unless fail returns an error.
func List(dir string, checksum bool, send func(body []byte) error, fail func(name string, err error) error) error {
	var b Batch
	flush := func() error {
		if b.Len() == 0 {
			return nil
		}
		err := send(b.Body())
		b.Reset()
		return err
	}
	err := Walk(dir, true, func(name, local string, e protocol.Entry, err error) error {
		if name == "." && err == nil {
			return nil
		}
		if err == nil && e.Kind == protocol.KindFile {
			err = fileFacts(local, checksum, &e)
		}
		if err != nil {
			if err := flush(); err != nil {
				return err
			}
			return fail(name, err)
		}
		if !b.Fits(0) {
			if err := flush(); err != nil {
				return err
			}
		}
		return b.AddEntry(e)
	})
	if err != nil {
		return err
	}
	return flush()
}

// fileFacts fills a listed file's length, and its digest when asked.
func fileFacts(local string, checksum bool, e *protocol.Entry) error {
	if !checksum {
		fi, err := os.Lstat(local)
		if err != nil {
			return err
		}
		e.Length = fi.Size()
		return nil
	}
	d, n, err := FileDigest(local)
	e.Length, e.Digest = n, d
	return err
}

// FileDigest reads the local file path (a symbolic link is not followed)
// and returns its file digest and length.
func FileDigest(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	if !fi.Mode().IsRegular() {
		return "", 0, ErrNotRegular
	}
	t := newTree()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	n, err := io.CopyBuffer(t, io.LimitReader(f, fi.Size()), *bp)
	if err != nil {
		return "", 0, err
	}
	if n != fi.Size() {
		return "", 0, ErrChanged
	}
	return t.Sum(), n, nil
}

// ParseListing reads the entries of a listing body. Every entry's name is
// checked (CheckName): a manifest comes from the peer, and its names may
// decide what is deleted. A file entry carries no stream here.
func ParseListing(body []byte, fn func(protocol.Entry) error) error {
	err := protocol.EachInner(body, func(m protocol.Message) error {
		e, ok := m.(protocol.Entry)
		if !ok {
			return protocolError("%s in a listing", m.Type())
		}
		if err := CheckName(e.Name); err != nil {
			return protocolError("listing: %v", err)
		}
		return fn(e)
	})
	if errors.Is(err, protocol.ErrInner) {
		return protocolError("listing: %v", err)
	}
	return err
}
