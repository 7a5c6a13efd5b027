package transport

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes++
	return c.Conn.Write(p)
}

// TestWriteBatcher: under TLS, a 256 KiB message is many records; with
// batching on they reach the socket in one write at Flush, and the peer
// reads every byte; the handshake before Batch is unaffected, and Close
// flushes what is held.
func TestWriteBatcher(t *testing.T) {
	host, user := mustIdentity(t, "host"), mustIdentity(t, "user")
	srvCfg, cliCfg := mustConfigs(t, host, user, func(ed25519.PublicKey) error { return nil })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	msg := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB
	got := make(chan []byte, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		b, _ := io.ReadAll(tls.Server(nc, srvCfg))
		got <- b
	}()
	raw, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	raw.SetDeadline(time.Now().Add(30 * time.Second))
	cc := &countingConn{Conn: raw}
	b := NewWriteBatcher(cc)
	tc := tls.Client(b, cliCfg)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	b.Batch()
	before := cc.writes
	if _, err := tc.Write(msg); err != nil {
		t.Fatal(err)
	}
	if cc.writes != before {
		t.Fatalf("%d writes reached the socket before Flush", cc.writes-before)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if cc.writes != before+1 {
		t.Fatalf("Flush made %d writes, want 1", cc.writes-before)
	}
	tc.Write([]byte("tail"))
	tc.Close() // close_notify held, then flushed by the batcher's Close
	if b := <-got; !bytes.Equal(b, append(msg, "tail"...)) {
		t.Fatalf("the peer read %d bytes, want %d", len(b), len(msg)+4)
	}
}
