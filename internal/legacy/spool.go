package legacy

import (
	"bytes"
	"io"
	"os"
)

// memSpoolLimit is how much of a spool stays in memory; beyond it the
// spool moves to a temporary file, so a 1 GiB reply costs disk, not RAM,
// while the common small reply never touches the disk.
const memSpoolLimit = 4 << 20

// spool holds a byte stream whose length must be known before it can be
// sent or shown: in memory up to its limit, then in a temporary file in
// os.TempDir that Close removes. It is used by one goroutine at a time.
type spool struct {
	limit int
	mem   bytes.Buffer
	f     *os.File // nil while the data fits in mem
	size  int64
}

// newSpool returns an empty spool keeping up to limit bytes in memory.
func newSpool(limit int) *spool { return &spool{limit: limit} }

// Write appends p, moving everything to a temporary file once the memory
// limit would be passed.
func (s *spool) Write(p []byte) (int, error) {
	if s.f == nil && s.mem.Len()+len(p) > s.limit {
		if err := s.toFile(); err != nil {
			return 0, err
		}
	}
	var n int
	var err error
	if s.f != nil {
		n, err = s.f.Write(p)
	} else {
		n, err = s.mem.Write(p)
	}
	s.size += int64(n)
	return n, err
}

// toFile moves the in-memory bytes to a new temporary file.
func (s *spool) toFile() error {
	f, err := os.CreateTemp("", "rexec-legacy-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(s.mem.Bytes()); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	s.f = f
	s.mem = bytes.Buffer{}
	return nil
}

// Size is the number of bytes written so far.
func (s *spool) Size() int64 { return s.size }

// Reader returns a reader over everything written, from the start. Each
// call returns a new reader, so the data can be read several times.
func (s *spool) Reader() io.Reader {
	if s.f != nil {
		return io.NewSectionReader(s.f, 0, s.size)
	}
	return bytes.NewReader(s.mem.Bytes())
}

// Close removes the temporary file, if any. It is idempotent.
func (s *spool) Close() error {
	s.mem = bytes.Buffer{}
	if s.f == nil {
		return nil
	}
	f := s.f
	s.f = nil
	err := f.Close()
	if rerr := os.Remove(f.Name()); err == nil {
		err = rerr
	}
	return err
}
