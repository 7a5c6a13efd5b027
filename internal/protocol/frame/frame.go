package frame

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Limits of docs/PROTOCOL.md §2. They are checked against the length prefix
// and the header's size field before any buffer is sized from them, so a peer
// can never make us allocate more than MaxHeaderSize+MaxBodySize per frame.
const (
	// PrefixSize is the length of the big-endian header length.
	PrefixSize = 4
	// MaxHeaderSize bounds a header: ours are tens of bytes; 64 KiB leaves
	// room for a long argv and environment without inviting abuse.
	MaxHeaderSize = 64 << 10
	// MaxBodySize bounds one frame's body: large enough that streaming is
	// not dominated by per-frame cost, small enough to keep per-connection
	// memory bounded.
	MaxBodySize = 1 << 20
	// SizeKey is the header field that gives the body length.
	SizeKey = "size"
)

// Errors returned by Reader.Next and Write. Callers map them to the wire
// error codes of package protocol with errors.Is.
var (
	ErrHeaderTooLarge = errors.New("frame: header length exceeds 64 KiB limit")
	ErrBodyTooLarge   = errors.New("frame: body size exceeds 1 MiB limit")
	ErrBadHeader      = errors.New("frame: malformed header")
	ErrTruncated      = errors.New("frame: connection ended inside a frame")
)

// Frame is one decoded frame. Fields holds the header's top-level members
// (already checked for duplicates and syntax); Raw is the header as sent.
// The slices alias the Reader's buffers and stay valid only until the next
// call to Next.
type Frame struct {
	Fields map[string]json.RawMessage
	Raw    []byte
	Body   []byte
}

// Reader reads frames from a byte stream. It is not safe for concurrent use:
// a connection has exactly one reader.
type Reader struct {
	r      *bufio.Reader
	prefix [PrefixSize]byte
	hdr    []byte
	body   []byte
}

// readBufferSize is the bufio size in front of the stream: it lets small
// frames (a header of tens of bytes) be parsed without a syscall each.
// One TLS record's plaintext (16 KiB) is all a tls.Conn Read returns, so a
// larger buffer gains nothing and costs every idle connection memory; a
// body larger than what is buffered is read straight into its own slice.
const readBufferSize = 16 << 10

// NewReader returns a Reader that buffers r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, readBufferSize)}
}

// Next reads one frame. io.EOF is returned only for a clean end between
// frames; an end inside a frame is ErrTruncated. Limit violations are
// reported before the oversized part is read or allocated.
func (r *Reader) Next() (Frame, error) {
	if _, err := io.ReadFull(r.r, r.prefix[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Frame{}, fmt.Errorf("%w: in length prefix", ErrTruncated)
		}
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(r.prefix[:])
	if n > MaxHeaderSize {
		return Frame{}, fmt.Errorf("%w (got %d bytes)", ErrHeaderTooLarge, n)
	}
	r.hdr = grow(r.hdr, int(n))
	if _, err := io.ReadFull(r.r, r.hdr); err != nil {
		return Frame{}, truncated("header", err)
	}
	fields, size, err := DecodeHeader(r.hdr)
	if err != nil {
		return Frame{}, err
	}
	r.body = grow(r.body, size)
	if _, err := io.ReadFull(r.r, r.body); err != nil {
		return Frame{}, truncated("body", err)
	}
	return Frame{Fields: fields, Raw: r.hdr, Body: r.body}, nil
}

// Cut decodes the frame at the start of b, a buffer of whole frames (the
// body of a batch or listing: PROTOCOL.md §8.10), and returns it and the
// bytes after it. The frame's slices alias b: nothing is copied. The
// limits and the header rules are Next's; a frame cut short is
// ErrTruncated. b must not be empty.
func Cut(b []byte) (Frame, []byte, error) {
	if len(b) < PrefixSize {
		return Frame{}, nil, fmt.Errorf("%w: in length prefix", ErrTruncated)
	}
	n := binary.BigEndian.Uint32(b)
	if n > MaxHeaderSize {
		return Frame{}, nil, fmt.Errorf("%w (got %d bytes)", ErrHeaderTooLarge, n)
	}
	b = b[PrefixSize:]
	if uint32(len(b)) < n {
		return Frame{}, nil, fmt.Errorf("%w: in header", ErrTruncated)
	}
	hdr, b := b[:n:n], b[n:]
	fields, size, err := DecodeHeader(hdr)
	if err != nil {
		return Frame{}, nil, err
	}
	if len(b) < size {
		return Frame{}, nil, fmt.Errorf("%w: in body", ErrTruncated)
	}
	return Frame{Fields: fields, Raw: hdr, Body: b[:size:size]}, b[size:], nil
}

func truncated(part string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: in %s", ErrTruncated, part)
	}
	return fmt.Errorf("frame: reading %s: %w", part, err)
}

// grow returns buf resized to n, reusing its storage when it is big enough.
// n has already been checked against the limits.
func grow(buf []byte, n int) []byte {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]byte, n)
}

// Append appends the encoding of one frame to dst. header must be the JSON
// header whose size field equals len(body); Append checks only the limits.
func Append(dst, header, body []byte) ([]byte, error) {
	if len(header) > MaxHeaderSize {
		return dst, fmt.Errorf("%w (got %d bytes)", ErrHeaderTooLarge, len(header))
	}
	if len(body) > MaxBodySize {
		return dst, fmt.Errorf("%w (got %d bytes)", ErrBodyTooLarge, len(body))
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(header)))
	dst = append(dst, header...)
	return append(dst, body...), nil
}
