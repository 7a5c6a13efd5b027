package transport

import (
	"net"
	"sync"
	"time"
)

// maxBatch bounds what a WriteBatcher holds before it writes: one large
// protocol frame (1 MiB body) in TLS records, and no more.
const maxBatch = 1<<20 + 64<<10

// WriteBatcher is the TCP connection under a TLS connection, holding the
// records TLS writes, once Batch was called, until Flush: crypto/tls
// writes each record of at most 16 KiB, and a frame's header, in a
// system call of its own, so a 256 KiB frame took seventeen. With the
// batcher the protocol flushes once per frame (protocol.Conn.SetFlush),
// and a frame leaves in one write. Errors of the held writes come back
// from Flush. Before Batch (the TLS handshake) every write goes straight
// through. Close flushes first.
type WriteBatcher struct {
	net.Conn
	mu       sync.Mutex
	batching bool
	buf      []byte
}

// NewWriteBatcher wraps c; it writes straight through until Batch.
func NewWriteBatcher(c net.Conn) *WriteBatcher { return &WriteBatcher{Conn: c} }

// Batch makes later writes wait for Flush.
func (b *WriteBatcher) Batch() {
	b.mu.Lock()
	b.batching = true
	b.mu.Unlock()
}

// Write holds p until Flush once batching, else writes it.
func (b *WriteBatcher) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.batching {
		return b.Conn.Write(p)
	}
	if len(b.buf)+len(p) > maxBatch {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > maxBatch {
			return b.Conn.Write(p)
		}
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// Flush writes what is held.
func (b *WriteBatcher) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *WriteBatcher) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.Conn.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// Close flushes what is held (a TLS close_notify) and closes the
// connection.
func (b *WriteBatcher) Close() error {
	_ = b.Flush()
	return b.Conn.Close()
}

// SetWriteDeadline flushes what is held under the old deadline first:
// crypto/tls's Close sends close_notify and then sets the deadline to
// now, which would otherwise fail the write of what it just sent.
func (b *WriteBatcher) SetWriteDeadline(t time.Time) error {
	_ = b.Flush()
	return b.Conn.SetWriteDeadline(t)
}

// SetDeadline flushes as SetWriteDeadline does.
func (b *WriteBatcher) SetDeadline(t time.Time) error {
	_ = b.Flush()
	return b.Conn.SetDeadline(t)
}
