//go:build linux

package server

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transfer"
)

// putHeader is the put of a file named name of n bytes into dir.
func putHeader(dir, name string, n int) protocol.Put {
	return protocol.Put{Path: dir, Name: name, Kind: protocol.KindFile, Length: int64(n), Mode: 0o644}
}

func fileEnd(b []byte) protocol.FileEnd {
	return protocol.FileEnd{Hash: protocol.HashBLAKE3, Digest: transfer.Digest(b)}
}

// expectReply reads messages up to a reply and checks its type (or code).
func expectReply(t *testing.T, c *testClient, want string) protocol.Message {
	t.Helper()
	for {
		m, err := c.recv()
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		switch m := m.(type) {
		case protocol.Ping:
			continue
		case protocol.Error:
			if m.Code != want {
				t.Fatalf("got error %s (%s), want %s", m.Code, m.Message, want)
			}
		default:
			if m.Type() != want {
				t.Fatalf("got %#v, want %s", m, want)
			}
		}
		return m
	}
}

func TestTransferDuringExecIsBusy(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	if err := c.send(protocol.Exec{Argv: []string{"sleep", "5"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.send(protocol.Stat{Path: ts.dir}); err != nil {
		t.Fatal(err)
	}
	expectReply(t, c, protocol.CodeBusy)
	if _, err := c.recv(); err == nil {
		t.Errorf("connection still open after busy")
	}
}

func TestRequestInsideFileStreamIsBusy(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	for _, m := range []protocol.Message{putHeader(ts.dir, "f", 10),
		protocol.Data{Stream: protocol.TypeFileData, Body: []byte("12345")},
		protocol.Exec{Argv: []string{"true"}}} {
		if err := c.send(m); err != nil {
			t.Fatal(err)
		}
	}
	expectReply(t, c, protocol.CodeBusy)
	if _, err := os.Stat(filepath.Join(ts.dir, "f")); err == nil {
		t.Errorf("the interrupted file was committed")
	}
}

// TestPipelinedPuts sends several puts before reading any reply, as the
// client does for trees: the server answers each, in order.
func TestPipelinedPuts(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	const n = 20
	for i := range n {
		body := bytes.Repeat([]byte{byte(i)}, i*100)
		name := "f" + string(rune('a'+i))
		msgs := []protocol.Message{putHeader(ts.dir, name, len(body))}
		if len(body) > 0 {
			msgs = append(msgs, protocol.Data{Stream: protocol.TypeFileData, Body: body})
		}
		for _, m := range append(msgs, fileEnd(body)) {
			if err := c.send(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range n {
		expectReply(t, c, protocol.TypePutOK)
	}
}

// TestShutdownWaitsForTransfer: a transfer counts as a running session,
// so a draining server lets it finish.
func TestShutdownWaitsForTransfer(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	body := bytes.Repeat([]byte("x"), 1000)
	if err := c.send(putHeader(ts.dir, "f", len(body))); err != nil {
		t.Fatal(err)
	}
	if err := c.send(protocol.Data{Stream: protocol.TypeFileData, Body: body[:500]}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the server is inside the put
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		shut <- ts.Shutdown(ctx)
	}()
	time.Sleep(200 * time.Millisecond) // several closeIdle rounds
	for _, m := range []protocol.Message{protocol.Data{Stream: protocol.TypeFileData, Body: body[500:]}, fileEnd(body)} {
		if err := c.send(m); err != nil {
			t.Fatalf("the draining server closed a connection inside a transfer: %v", err)
		}
	}
	expectReply(t, c, protocol.TypePutOK)
	if err := <-shut; err != nil {
		t.Errorf("Shutdown = %v, want nil once the transfer ended", err)
	}
}

// TestIdleTimeoutSparesSlowTransfer: a transfer is not idleness, however
// long it takes, as long as bytes keep coming.
func TestIdleTimeoutSparesSlowTransfer(t *testing.T) {
	// Silence drops a peer after 3 intervals (750 ms): far above the 60 ms
	// between frames even on a loaded machine; the idle timeout is far below
	// the transfer's 1.2 s.
	ts := startServer(t, Config{KeepaliveInterval: 250 * time.Millisecond, IdleTimeout: 250 * time.Millisecond})
	c := ts.dial(t)
	body := bytes.Repeat([]byte("y"), 20)
	if err := c.send(putHeader(ts.dir, "slow", len(body))); err != nil {
		t.Fatal(err)
	}
	for i := range body {
		time.Sleep(60 * time.Millisecond) // 1.2 s in all, almost five idle timeouts
		if err := c.send(protocol.Data{Stream: protocol.TypeFileData, Body: body[i : i+1]}); err != nil {
			t.Fatalf("connection closed during a slow transfer: %v", err)
		}
	}
	if err := c.send(fileEnd(body)); err != nil {
		t.Fatal(err)
	}
	expectReply(t, c, protocol.TypePutOK)
	if got, err := os.ReadFile(filepath.Join(ts.dir, "slow")); err != nil || !bytes.Equal(got, body) {
		t.Errorf("slow file = %q, %v", got, err)
	}
}

func TestStatAndGet(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	p := filepath.Join(ts.dir, "g")
	if err := os.WriteFile(p, []byte("hello"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := c.send(protocol.Stat{Path: p}); err != nil {
		t.Fatal(err)
	}
	st := expectReply(t, c, protocol.TypeStatResult).(protocol.StatResult)
	if st.Kind != protocol.KindFile || st.Length != 5 || st.Mode != 0o640 || st.Name != "g" {
		t.Errorf("stat = %+v", st)
	}
	if err := c.send(protocol.Stat{Path: p + "-missing"}); err != nil {
		t.Fatal(err)
	}
	expectReply(t, c, protocol.CodeNotFound)
	if err := c.send(protocol.Get{Path: p}); err != nil {
		t.Fatal(err)
	}
	e := expectReply(t, c, protocol.TypeEntry).(protocol.Entry)
	d := expectReply(t, c, protocol.TypeFileData).(protocol.Data)
	end := expectReply(t, c, protocol.TypeFileEnd).(protocol.FileEnd)
	expectReply(t, c, protocol.TypeGetEnd)
	if e.Name != "." || e.Length != 5 || string(d.Body) != "hello" || end != fileEnd([]byte("hello")) {
		t.Errorf("get = %+v %q %+v", e, d.Body, end)
	}
}

// TestSilentPeerInsideTransferIsDropped: a client that stops in the middle
// of a file is taken for dead after keepaliveMisses intervals, and its
// partial file is kept for a resume.
func TestSilentPeerInsideTransferIsDropped(t *testing.T) {
	ts := startServer(t, Config{KeepaliveInterval: 100 * time.Millisecond})
	c := ts.dial(t)
	if err := c.send(putHeader(ts.dir, "f", 10)); err != nil {
		t.Fatal(err)
	}
	if err := c.send(protocol.Data{Stream: protocol.TypeFileData, Body: []byte("12345")}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		m, err := c.recv()
		if err != nil {
			break
		}
		if _, ok := m.(protocol.Ping); !ok {
			t.Fatalf("got %#v while silent, want pings and then the end", m)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("silent peer dropped after %v, want about 3 keepalive intervals", d)
	}
	parts, _ := filepath.Glob(filepath.Join(ts.dir, ".f.rexec-part-*"))
	if len(parts) != 1 {
		t.Errorf("partial files %v, want one kept for a resume", parts)
	}
}

// TestLongGetKeepsConnection: a get that takes longer than the silence
// deadline while the client only reads is not mistaken for a dead peer,
// and the connection serves the next request.
func TestLongGetKeepsConnection(t *testing.T) {
	// The deadline (3 intervals, 1.5 s) bounds each blocked write too, so
	// it must leave a loaded machine (-race, 2 cores) time to read and
	// decrypt a 1 MiB frame: 250 ms intervals cut this test once.
	ts := startServer(t, Config{KeepaliveInterval: 500 * time.Millisecond})
	c := ts.dial(t)
	p := filepath.Join(ts.dir, "big")
	if err := os.WriteFile(p, bytes.Repeat([]byte("z"), 64<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.send(protocol.Get{Path: p}); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := c.recv()
		if err != nil {
			t.Fatalf("get cut short: %v", err)
		}
		if _, ok := m.(protocol.GetEnd); ok {
			break
		}
		time.Sleep(60 * time.Millisecond) // 64 frames: 3.8 s, over twice the 1.5 s deadline
	}
	if err := c.send(protocol.Stat{Path: p}); err != nil {
		t.Fatal(err)
	}
	expectReply(t, c, protocol.TypeStatResult)
}
