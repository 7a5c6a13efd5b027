package server

import (
	"net"
	"sync"
)

// Writes under TLS gathered into fewer system calls. crypto/tls writes
// every record (at most 16 KiB of plaintext) to the socket with a write of
// its own: 64 per MiB, each waking the peer. A sender that has a whole
// frame at hand (an attach replaying a spool) holds the connection's
// batchConn around the frame, and the frame's records go out together,
// batchSize at a time (docs/BENCHMARKS.md, "Detached jobs and resumable
// runs").

// batchSize bounds what is gathered before it is written: sixteen full
// TLS records, about the socket's send buffer on loopback, and little
// beside the attach's own 1 MiB read buffer.
const batchSize = 256 << 10

// maxRecord is the most one write of crypto/tls carries: a record of
// 16 KiB of plaintext and its header, padding and tag.
const maxRecord = 16<<10 + 256

// batchBufs are the buffers of held connections, returned at release so
// that a connection that attached once keeps nothing.
var batchBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, batchSize+maxRecord)
	return &b
}}

// batchConn is the connection under TLS: writes go straight through,
// except while held. A write that failed while the bytes were gathered
// is reported by release and by every write after it: records the TLS
// layer took as sent were lost, so the stream is broken.
type batchConn struct {
	net.Conn

	mu  sync.Mutex // guards buf and err, and orders the writes to Conn
	buf *[]byte    // the gathered bytes while held, else nil
	err error
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if b.buf == nil {
		return b.Conn.Write(p)
	}
	*b.buf = append(*b.buf, p...)
	if len(*b.buf) >= batchSize {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// hold gathers the writes that follow until release; b may be nil (a
// connection that is not served over the network).
func (b *batchConn) hold() {
	if b == nil {
		return
	}
	b.mu.Lock()
	if b.buf == nil {
		b.buf = batchBufs.Get().(*[]byte)
	}
	b.mu.Unlock()
}

// release writes what was gathered and lets writes through again.
func (b *batchConn) release() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf == nil {
		return b.err
	}
	err := b.flushLocked()
	*b.buf = (*b.buf)[:0]
	batchBufs.Put(b.buf)
	b.buf = nil
	return err
}

func (b *batchConn) flushLocked() error {
	if len(*b.buf) > 0 && b.err == nil {
		_, b.err = b.Conn.Write(*b.buf)
	}
	*b.buf = (*b.buf)[:0]
	return b.err
}

// CloseWrite half-closes the connection when it can (lingerClose).
func (b *batchConn) CloseWrite() error {
	if cw, ok := b.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
