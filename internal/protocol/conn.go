package protocol

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/rexec-dev/rexec/internal/protocol/frame"
)

// Conn carries messages over a byte stream (normally a *tls.Conn).
//
// Recv must be called from one goroutine only (the connection's reader).
// Send may be called from any goroutine: writes are serialized by wmu, and a
// message's frame goes out in a single Write, so frames never interleave.
// Close closes the stream; it is idempotent and safe concurrently.
type Conn struct {
	rw   io.ReadWriteCloser
	r    *frame.Reader
	link bool // a helper link: its own messages decode too (link.go)

	wmu  sync.Mutex // wmu guards wbuf, flush and the order of writes to rw
	wbuf []byte
	// flush, when set, runs after each frame is written (SetFlush).
	flush func() error

	closeOnce sync.Once
	closeErr  error
}

// NewConn wraps rw. The Conn owns rw from now on: Close closes it.
func NewConn(rw io.ReadWriteCloser) *Conn {
	return &Conn{rw: rw, r: frame.NewReader(rw)}
}

// Recv reads and decodes the next message. A Data body is valid only until
// the next call. Decoding errors wrap frame's and this package's sentinels;
// CodeFor maps them to the code to report before closing.
func (c *Conn) Recv() (Message, error) {
	f, err := c.r.Next()
	if err != nil {
		return nil, err
	}
	if c.link {
		return decodeLink(f)
	}
	return Decode(f)
}

// Send encodes and writes one message. Data bodies larger than
// frame.MaxBodySize are split into several frames.
func (c *Conn) Send(m Message) error {
	if d, ok := m.(Data); ok {
		return c.sendData(d.Stream, d.Body)
	}
	hdr, err := encodeHeader(m)
	if err != nil {
		return err
	}
	return c.write(hdr, nil)
}

func (c *Conn) sendData(stream string, body []byte) error {
	for {
		n := min(len(body), frame.MaxBodySize)
		hdr := dataHeader(stream, n)
		if err := c.write(hdr, body[:n]); err != nil {
			return err
		}
		body = body[n:]
		if len(body) == 0 {
			return nil
		}
	}
}

// copyLimit is the largest body copied next to its header so the frame
// goes out in one Write; a larger body is written straight from the
// caller's buffer after the header, saving a copy of up to 1 MiB per frame
// on the streaming path (both Writes happen under wmu, so frames never
// interleave).
const copyLimit = 16 << 10

func (c *Conn) write(hdr, body []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	inline := body
	if len(body) > copyLimit {
		inline = nil
	}
	var err error
	c.wbuf, err = frame.Append(c.wbuf[:0], hdr, inline)
	if err != nil {
		return err
	}
	if inline == nil && len(body) > 0 {
		if len(body) > frame.MaxBodySize {
			return fmt.Errorf("%w (got %d bytes)", frame.ErrBodyTooLarge, len(body))
		}
		if _, err = c.rw.Write(c.wbuf); err != nil {
			return err
		}
		_, err = c.rw.Write(body)
	} else {
		_, err = c.rw.Write(c.wbuf)
	}
	if err == nil && c.flush != nil {
		err = c.flush()
	}
	return err
}

// SetFlush makes each Send end with f, for a stream whose writes are held
// below (transport.WriteBatcher under TLS): a frame then leaves in one
// write. Call it before the Conn is shared.
func (c *Conn) SetFlush(f func() error) {
	c.wmu.Lock()
	c.flush = f
	c.wmu.Unlock()
}

// Close closes the underlying stream once and returns its error.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.rw.Close() })
	return c.closeErr
}

// dataHeader formats a data frame's header without reflection: it is on the
// streaming hot path.
func dataHeader(stream string, n int) []byte {
	b := make([]byte, 0, 40)
	b = append(b, `{"type":"`...)
	b = append(b, stream...)
	b = append(b, `","size":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '}')
}

// encodeHeader marshals a bodyless message as {"type":T, ...fields},
// with the members as encoding/json writes them (appendFields;
// TestEncodeHeaderAsJSON and FuzzEncodeHeader hold the two to the same
// bytes).
func encodeHeader(m Message) ([]byte, error) {
	b, ok, err := appendFields(appendType(make([]byte, 0, 128), m), m)
	if err != nil {
		return nil, fmt.Errorf("protocol: encoding %s: %w", m.Type(), err)
	}
	if ok {
		return append(b, '}'), nil
	}
	return encodeHeaderJSON(m)
}

// appendType opens a header with its type member; type names are plain
// ASCII constants.
func appendType(b []byte, m Message) []byte {
	return append(append(append(b, `{"type":"`...), m.Type()...), '"')
}

// encodeHeaderJSON is encodeHeader through encoding/json alone.
func encodeHeaderJSON(m Message) ([]byte, error) {
	fields, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("protocol: encoding %s: %w", m.Type(), err)
	}
	b := appendType(make([]byte, 0, len(fields)+24), m)
	if len(fields) > 2 { // not "{}"
		b = append(b, ',')
		b = append(b, fields[1:]...)
	} else {
		b = append(b, '}')
	}
	return b, nil
}
