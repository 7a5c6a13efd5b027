package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes atomic.Int32
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// record is one TLS-record-sized write of distinct bytes.
func record(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 16<<10+22) }

// TestBatchConn: writes go straight through unless held; held, they reach
// the socket batchSize at a time and the rest at release, in order and
// complete; a nil batchConn holds nothing.
func TestBatchConn(t *testing.T) {
	tests := []struct {
		name    string
		held    bool
		records int
		writes  int32 // socket writes for them
	}{
		{"not held", false, 64, 64},
		{"held, one frame of 1 MiB", true, 64, 4},
		{"held, less than a batch", true, 3, 1},
		{"held, nothing", true, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer, nc := tcpPair(t)
			cc := &countingConn{Conn: nc}
			b := &batchConn{Conn: cc}
			var want bytes.Buffer
			got := make(chan []byte, 1)
			go func() {
				buf, _ := io.ReadAll(io.LimitReader(peer, int64(tt.records*len(record(0)))))
				got <- buf
			}()
			if tt.held {
				b.hold()
			}
			for i := range tt.records {
				want.Write(record(i))
				if n, err := b.Write(record(i)); err != nil || n != len(record(i)) {
					t.Fatalf("write %d = %d, %v", i, n, err)
				}
			}
			if err := b.release(); err != nil {
				t.Fatalf("release = %v", err)
			}
			select {
			case buf := <-got:
				if !bytes.Equal(buf, want.Bytes()) {
					t.Fatalf("peer read %d bytes, not the %d written in order", len(buf), want.Len())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the peer did not get every byte")
			}
			if n := cc.writes.Load(); n != tt.writes {
				t.Errorf("%d socket writes, want %d", n, tt.writes)
			}
			if b.buf != nil {
				t.Error("a released batchConn still holds a buffer")
			}
		})
	}
	var none *batchConn
	none.hold()
	if err := none.release(); err != nil {
		t.Errorf("nil release = %v", err)
	}
}

// TestBatchConnBrokenStream: when the gathered bytes cannot be written,
// release says so and every later write fails: records the TLS layer
// took as sent were lost.
func TestBatchConnBrokenStream(t *testing.T) {
	_, nc := tcpPair(t)
	b := &batchConn{Conn: nc}
	b.hold()
	if _, err := b.Write(record(1)); err != nil {
		t.Fatalf("gathered write = %v", err)
	}
	nc.Close()
	err := b.release()
	if err == nil {
		t.Fatal("release over a closed socket succeeded")
	}
	if _, werr := b.Write(record(2)); !errors.Is(werr, err) {
		t.Errorf("write after a lost batch = %v, want %v", werr, err)
	}
}
