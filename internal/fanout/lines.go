package fanout

import (
	"bytes"
	"io"
	"sync"
)

// MaxLineLength bounds the partial line a LineWriter holds per host and
// stream. A host printing megabytes without a newline must not grow the
// client's memory with it: past this length the line is emitted in
// pieces, each prefixed and ended with a newline (a whole piece is still
// never interleaved with other output).
const MaxLineLength = 64 << 10

// SharedWriter serializes writes of whole lines from many hosts to one
// local stream (stdout or stderr). Each Write reaches the underlying
// writer in one call under the lock, so two hosts' lines never mix.
// It is safe for concurrent use.
type SharedWriter struct {
	mu sync.Mutex // mu guards w
	w  io.Writer
}

// NewSharedWriter wraps w, which should not be written by anyone else
// while the SharedWriter is in use.
func NewSharedWriter(w io.Writer) *SharedWriter { return &SharedWriter{w: w} }

// Write writes p in one call of the underlying writer.
func (s *SharedWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// LineWriter turns one host's stream into whole lines prefixed with
// "host: " on a SharedWriter (pdsh's output). Complete lines go out as
// soon as they arrive; a final line without a newline goes out at Close,
// with one. A LineWriter is used by one goroutine at a time (the client
// writes each stream from one goroutine).
type LineWriter struct {
	out     *SharedWriter
	prefix  []byte
	partial []byte // the current incomplete line, at most MaxLineLength
	batch   []byte // reused buffer of prefixed complete lines
}

// NewLineWriter returns a writer that prefixes each line with prefix.
func NewLineWriter(out *SharedWriter, prefix string) *LineWriter {
	return &LineWriter{out: out, prefix: []byte(prefix)}
}

// Write emits every line p completes, in one write to the shared stream.
// It returns the shared stream's error, if any, as a failed write of p.
func (l *LineWriter) Write(p []byte) (int, error) {
	n := len(p)
	l.batch = l.batch[:0]
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		room := MaxLineLength - len(l.partial)
		switch {
		case i >= 0 && i < room:
			l.emit(p[:i])
			p = p[i+1:]
		case len(p) < room:
			l.partial = append(l.partial, p...)
			p = nil
		default: // the line is too long: emit a full piece
			l.emit(p[:room])
			p = p[room:]
		}
	}
	if len(l.batch) == 0 {
		return n, nil
	}
	if _, err := l.out.Write(l.batch); err != nil {
		return 0, err
	}
	l.shrink()
	return n, nil
}

// emit adds prefix + partial + rest + "\n" to the batch.
func (l *LineWriter) emit(rest []byte) {
	l.batch = append(l.batch, l.prefix...)
	l.batch = append(l.batch, l.partial...)
	l.batch = append(l.batch, rest...)
	l.batch = append(l.batch, '\n')
	l.partial = l.partial[:0]
}

// shrink drops a batch buffer grown by one large write, so that a host
// that once printed a megabyte does not keep it for the rest of its run.
func (l *LineWriter) shrink() {
	if cap(l.batch) > 4*MaxLineLength {
		l.batch = nil
	}
}

// Close emits the last line if it has no newline, adding one. It does not
// close the shared stream.
func (l *LineWriter) Close() error {
	if len(l.partial) == 0 {
		return nil
	}
	l.batch = l.batch[:0]
	l.emit(nil)
	_, err := l.out.Write(l.batch)
	l.batch = nil
	return err
}
