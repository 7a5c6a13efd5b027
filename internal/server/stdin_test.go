package server

import (
	"bytes"
	"testing"
)

// TestStdinChunks: recycled stdin buffers have room for their frame,
// come in the pools' classes, and a buffer given back is never one still
// queued: what the process reads is what the client sent, in order.
func TestStdinChunks(t *testing.T) {
	for _, n := range []int{1, 4096, 4097, 65536, 300000, 1 << 20} {
		b := getChunk(n)
		if len(b) != 0 || cap(b) < n || cap(b) > 2*n && cap(b) != 4096 {
			t.Errorf("getChunk(%d): len %d cap %d", n, len(b), cap(b))
		}
		putChunk(b)
	}
	if c := chunkClass(1<<20 + 1); c != -1 {
		t.Errorf("chunkClass past the frame limit = %d, want -1", c)
	}
	q := newStdinQueue()
	var want, got []byte
	for i := range 50 {
		frame := bytes.Repeat([]byte{byte(i)}, 1000+i*997)
		want = append(want, frame...)
		if err := q.push(frame); err != nil {
			t.Fatal(err)
		}
		frame[0] ^= 0xff // the queue holds its own copy
		if i%3 == 2 {
			for range 2 {
				b, state := q.pop()
				if state != queueData {
					t.Fatalf("pop state %d", state)
				}
				got = append(got, b...)
				putChunk(b)
				q.release(len(b))
			}
		}
	}
	q.closeInput()
	for {
		b, state := q.pop()
		if state != queueData {
			break
		}
		got = append(got, b...)
		putChunk(b)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the queue delivered %d bytes that differ from the %d pushed", len(got), len(want))
	}
}
