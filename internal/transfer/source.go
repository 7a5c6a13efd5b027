package transfer

import (
	"bytes"
	"io"
	"io/fs"
	"os"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// Source is a local regular file being sent. It hashes what it reads and
// notices when the file changes underneath (Finish). It is used by one
// goroutine.
type Source struct {
	f    *os.File
	info fs.FileInfo
	h    *Tree
	pos  int64
}

// OpenSource opens path, which must be a regular file (symbolic links are
// followed).
func OpenSource(path string) (*Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	switch {
	case info.IsDir():
		f.Close()
		return nil, ErrIsDir
	case !info.Mode().IsRegular():
		f.Close()
		return nil, ErrNotRegular
	}
	return &Source{f: f, info: info, h: newTree()}, nil
}

// Entry describes the file under the given wire name, as it was opened.
func (s *Source) Entry(name string) protocol.Entry {
	return protocol.Entry{Name: name, Kind: protocol.KindFile, Length: s.info.Size(),
		Mode: WireMode(s.info.Mode()), MtimeNS: s.info.ModTime().UnixNano()}
}

// Length is the file's size when it was opened: exactly what is sent.
func (s *Source) Length() int64 { return s.info.Size() }

// Close closes the file.
func (s *Source) Close() error { return s.f.Close() }

// Resume compares the receiver's chunk sums of its first have bytes with
// this file and returns the offset to send from: the end of the longest
// prefix of whole matching chunks (all of have when every chunk matches).
// The digests of the matching chunks go into the file digest as they are,
// so the digest still covers the whole file and the prefix is hashed once. A have beyond the file or sums of the wrong size are a protocol
// violation.
func (s *Source) Resume(have int64, sums []byte) (int64, error) {
	n := chunks(have)
	if have > s.Length() || int64(len(sums)) != n*protocol.SumSize {
		return 0, protocolError("file_have of %d bytes with %d bytes of sums for a %d-byte file",
			have, len(sums), s.Length())
	}
	buf := make([]byte, min(have, protocol.ChunkSize))
	var off int64
	for i := range n {
		size := min(protocol.ChunkSize, have-off)
		if _, err := s.f.ReadAt(buf[:size], off); err != nil {
			return 0, s.readError(err)
		}
		sum := chunkSum(buf[:size])
		if !bytes.Equal(sum[:], sums[i*protocol.SumSize:(i+1)*protocol.SumSize]) {
			break
		}
		if size == protocol.ChunkSize {
			s.h.addChunk(sum[:])
		} else {
			_, _ = s.h.Write(buf[:size]) // the last chunk goes on
		}
		off += size
	}
	s.pos = off
	return off, nil
}

// ReadTo reads the next bytes of the file into p, at most up to its
// opened length, and hands them to send while it hashes them on a second
// goroutine (hashWhile): on two cores the hash then costs no wall time
// beside the encryption and the socket. Only bytes that were read are
// hashed, and every one of them is, also when send fails. It returns how
// many bytes were read; io.EOF at the opened length, ErrChanged when the
// file turns out shorter, or send's error.
func (s *Source) ReadTo(p []byte, send func([]byte) error) (int, error) {
	left := s.Length() - s.pos
	if left <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), left)]
	n, err := s.f.ReadAt(p, s.pos)
	s.pos += int64(n)
	if n > 0 {
		if serr := hashWhile(s.h, p[:n], func() error { return send(p[:n]) }); serr != nil {
			return n, serr
		}
	}
	if err != nil && (n < len(p) || err != io.EOF) {
		return n, s.readError(err)
	}
	return n, nil
}

func (s *Source) readError(err error) error {
	if err == io.EOF {
		return ErrChanged // shorter than when it was opened
	}
	return err
}

// Finish returns the file digest (hex, PROTOCOL.md §8.6) of everything read, after checking the
// file's size and modification time are still those it was opened with.
func (s *Source) Finish() (string, error) {
	now, err := s.f.Stat()
	if err != nil {
		return "", err
	}
	if now.Size() != s.info.Size() || !now.ModTime().Equal(s.info.ModTime()) {
		return "", ErrChanged
	}
	return s.h.Sum(), nil
}

// WireMode is the mode sent for a local file: permission bits plus
// setuid, setgid and sticky as in Unix (the receiver drops those three).
func WireMode(m fs.FileMode) int {
	mode := int(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// chunks is the number of ChunkSize chunks that cover n bytes.
func chunks(n int64) int64 { return (n + protocol.ChunkSize - 1) / protocol.ChunkSize }
