package metrics

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// dialIdle opens a connection to s that sends what (maybe nothing) and
// then waits; the test closes it.
func dialIdle(t *testing.T, s *Server, what string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, what); err != nil {
		t.Fatal(err)
	}
	return c
}

// closedWithin reads c until the server closes it and reports how long
// that took and what it sent, failing after within.
func closedWithin(t *testing.T, c net.Conn, within time.Duration) (time.Duration, string) {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(within))
	b, err := io.ReadAll(c)
	if err != nil && !isReset(err) {
		t.Fatalf("not closed within %v: %v (read %q)", within, err, b)
	}
	return time.Since(start), string(b)
}

// isReset reports whether err is the peer's RST: the server may close a
// connection with a request unread, which is not the test's point.
func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

// waitConns waits until s holds n connections.
func waitConns(t *testing.T, s *Server, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		got := s.ln.count()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server holds %d connections, want %d", got, n)
		}
	}
}

// TestReadHeadDeadline: a client that sends nothing, or not all of its
// head, is dropped at the deadline, unanswered or answered 400 (net/http
// answers a request line cut short), and its slot is free again.
func TestReadHeadDeadline(t *testing.T) {
	lim := defaultLimits
	lim.readHeader, lim.read = 150*time.Millisecond, 150*time.Millisecond
	s := serveTest(t, New().render, lim)
	for _, sent := range []string{"", "G", "GET /metrics HTTP/1.1\r\nHost: x\r\n"} {
		c := dialIdle(t, s, sent)
		d, got := closedWithin(t, c, 2*time.Second)
		if d < 100*time.Millisecond || got != "" && !strings.HasPrefix(got, "HTTP/1.1 400 ") {
			t.Errorf("after %q: closed in %v with %.60q, want nothing or 400 at about %v", sent, d, got, lim.readHeader)
		}
	}
	waitConns(t, s, 0)
}

// TestHeadByteByByte: a head that arrives one byte per segment, its end
// split across reads, is read whole.
func TestHeadByteByByte(t *testing.T) {
	s := serveTest(t, New().render, defaultLimits)
	c := dialIdle(t, s, "")
	for _, b := range []byte("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n") {
		if _, err := c.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if resp, _ := readResponse(t, bufio.NewReader(c), "GET"); resp.StatusCode != 200 {
		t.Errorf("byte-by-byte GET = %d, want 200", resp.StatusCode)
	}
}

// TestConnLimit: past lim.maxConns open connections, a new one is closed
// at once, unanswered; once one closes, scraping works again.
func TestConnLimit(t *testing.T) {
	lim := defaultLimits
	lim.maxConns = 2
	s := serveTest(t, New().render, lim)
	first := dialIdle(t, s, "")
	dialIdle(t, s, "GET /metrics HTTP/1.1\r\n")
	waitConns(t, s, 2)
	if d, got := closedWithin(t, dialIdle(t, s, ""), 2*time.Second); d > time.Second || got != "" {
		t.Errorf("connection past the limit: closed in %v with %q, want at once with nothing", d, got)
	}
	first.Close()
	waitConns(t, s, 1)
	if code, _ := scrapeOver(t, s); code != 200 {
		t.Errorf("scrape under the limit again = %d, want 200", code)
	}
}

// TestCloseIdle: Close with connections open that have not sent a whole
// request closes them and returns at once, leaving no goroutine.
func TestCloseIdle(t *testing.T) {
	defer goleak.VerifyNone(t)
	s, err := serve(context.Background(), "127.0.0.1:0", New().render, defaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	kept := dialIdle(t, s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	kept.SetReadDeadline(time.Now().Add(5 * time.Second))
	if resp, _ := readResponse(t, bufio.NewReader(kept), "GET"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("first scrape = %d, close %v; want 200 and the connection kept", resp.StatusCode, resp.Close)
	}
	conns := []net.Conn{dialIdle(t, s, ""), dialIdle(t, s, "GET /metrics HTTP/1.1\r\n"), dialIdle(t, s, "G"), kept}
	waitConns(t, s, len(conns))
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v with idle connections, want at once", d)
	}
	for i, c := range conns {
		if _, got := closedWithin(t, c, time.Second); got != "" {
			t.Errorf("idle connection %d got %q at Close, want nothing", i, got)
		}
	}
}

// TestCloseGrace: a scrape in progress at Close may finish within the
// grace; one still stuck after it has its connection closed and its
// render cancelled, and Close returns with no goroutine left.
func TestCloseGrace(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := New()
	entered, release := make(chan struct{}, 1), make(chan struct{})
	lim := defaultLimits
	lim.grace = 200 * time.Millisecond
	stuck := func(ctx context.Context) ([]byte, error) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return m.render(ctx)
	}
	for _, c := range []struct {
		name    string
		release bool // within the grace
		want    string
	}{
		{"finishes", true, "HTTP/1.1 200 OK\r\n"},
		{"stuck", false, ""},
	} {
		s, err := serve(context.Background(), "127.0.0.1:0", stuck, lim)
		if err != nil {
			t.Fatal(err)
		}
		conn := dialIdle(t, s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
		<-entered
		closed := make(chan time.Duration)
		go func() { start := time.Now(); s.Close(); closed <- time.Since(start) }()
		if c.release {
			time.Sleep(50 * time.Millisecond)
			release <- struct{}{}
		}
		_, got := closedWithin(t, conn, 5*time.Second)
		if d := <-closed; d < lim.grace && !c.release || d > 2*time.Second {
			t.Errorf("%s: Close took %v, grace %v", c.name, d, lim.grace)
		}
		// A stuck scrape cancelled at the grace may be answered 503 or
		// see its connection closed first.
		if !strings.HasPrefix(got, c.want) || !c.release && got != "" && !strings.HasPrefix(got, "HTTP/1.1 503 ") {
			t.Errorf("%s: the scrape at Close got %.60q, want %q", c.name, got, c.want)
		}
	}
}

// TestIdleTimeout: a kept-alive connection that sends no next request is
// closed at lim.idle, and its slot is free again.
func TestIdleTimeout(t *testing.T) {
	lim := defaultLimits
	lim.idle = 150 * time.Millisecond
	s := serveTest(t, New().render, lim)
	c := dialIdle(t, s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	if resp, _ := readResponse(t, br, "GET"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("scrape = %d, close %v; want 200 and the connection kept", resp.StatusCode, resp.Close)
	}
	start := time.Now()
	if b, err := io.ReadAll(br); err != nil && !isReset(err) || len(b) != 0 {
		t.Fatalf("idle connection: read %q, %v; want it closed with nothing", b, err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("idle connection closed after %v, want about %v", d, lim.idle)
	}
	waitConns(t, s, 0)
}

// TestWriteTimeout: a scrape whose answer is not written within lim.write
// of its request loses its connection without an answer.
func TestWriteTimeout(t *testing.T) {
	m := New()
	entered, release := make(chan struct{}, 1), make(chan struct{})
	lim := defaultLimits
	lim.write = 100 * time.Millisecond
	s := serveTest(t, blockingRender(m, entered, release), lim)
	c := dialIdle(t, s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered
	time.Sleep(3 * lim.write)
	close(release)
	if _, got := closedWithin(t, c, 5*time.Second); got != "" {
		t.Errorf("answer written %v after the write deadline: %.60q, want none", 2*lim.write, got)
	}
}
