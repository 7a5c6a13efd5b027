package server

import (
	"fmt"
	"sync"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// Queue states returned by pop.
const (
	queueData = iota
	queueEOF
	queueStopped
)

// stdinQueue holds stdin the connection's reader has received but the
// process has not yet consumed. The reader never blocks on it: a client that
// sends more than protocol.StdinWindow unacknowledged bytes breaks the
// protocol, which bounds the queue's memory.
type stdinQueue struct {
	mu      sync.Mutex // mu guards the fields below
	cond    *sync.Cond
	bufs    [][]byte
	pending int // bytes pushed and not yet released
	eof     bool
	stopped bool
}

func newStdinQueue() *stdinQueue {
	q := &stdinQueue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push copies b into the queue. Data after EOF or stop is dropped.
func (q *stdinQueue) push(b []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.eof || q.stopped || len(b) == 0 {
		return nil
	}
	if q.pending+len(b) > protocol.StdinWindow {
		return fmt.Errorf("client exceeded the stdin window of %d bytes", protocol.StdinWindow)
	}
	q.pending += len(b)
	q.bufs = append(q.bufs, append(getChunk(len(b)), b...))
	q.cond.Signal()
	return nil
}

// Stdin chunks are recycled (putChunk after the write): an upload moves
// its bytes through these buffers, and allocating one per frame made the
// garbage collector and fresh pages a large part of the daemon's CPU.
// Buffers come in power-of-two classes from minChunk to the frame limit,
// so a pool never holds a buffer much larger than the frames it serves.
const minChunkShift = 12 // 4 KiB

var chunkPools [21 - minChunkShift]sync.Pool // 4 KiB ... 1 MiB (protocol's body limit)

// chunkClass is the pool index of a buffer for n bytes, or -1 when n is
// over the largest class.
func chunkClass(n int) int {
	c := 0
	for size := 1 << minChunkShift; size < n; size <<= 1 {
		c++
	}
	if c >= len(chunkPools) {
		return -1
	}
	return c
}

// getChunk returns an empty buffer with room for n bytes.
func getChunk(n int) []byte {
	c := chunkClass(n)
	if c < 0 {
		return make([]byte, 0, n)
	}
	if b, ok := chunkPools[c].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 1<<(c+minChunkShift))
}

// putChunk gives a buffer of getChunk back for reuse.
func putChunk(b []byte) {
	c := chunkClass(cap(b))
	if c < 0 || cap(b) != 1<<(c+minChunkShift) {
		return
	}
	chunkPools[c].Put(&b)
}

// closeInput marks the end of input; pop reports queueEOF once drained.
func (q *stdinQueue) closeInput() {
	q.mu.Lock()
	q.eof = true
	q.cond.Signal()
	q.mu.Unlock()
}

// stop makes pop return queueStopped at once, dropping anything queued.
func (q *stdinQueue) stop() {
	q.mu.Lock()
	q.stopped = true
	q.bufs = nil
	q.cond.Broadcast()
	q.mu.Unlock()
}

// pop blocks until a chunk, the end of input or stop.
func (q *stdinQueue) pop() ([]byte, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.bufs) == 0 && !q.eof && !q.stopped {
		q.cond.Wait()
	}
	switch {
	case q.stopped:
		return nil, queueStopped
	case len(q.bufs) == 0:
		return nil, queueEOF
	}
	b := q.bufs[0]
	q.bufs[0] = nil
	q.bufs = q.bufs[1:]
	return b, queueData
}

// queued reports whether a chunk is waiting to be popped.
func (q *stdinQueue) queued() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.bufs) > 0
}

// release returns n bytes of window once they were written to the process.
func (q *stdinQueue) release(n int) {
	q.mu.Lock()
	q.pending -= n
	q.mu.Unlock()
}
