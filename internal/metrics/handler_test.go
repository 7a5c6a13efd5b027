package metrics

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// blockingRender wraps m.render so that each scrape reports on entered and
// then waits for release to be closed.
func blockingRender(m *Metrics, entered chan<- struct{}, release <-chan struct{}) renderFunc {
	return func(ctx context.Context) ([]byte, error) {
		entered <- struct{}{}
		<-release
		return m.render(ctx)
	}
}

// serveTest serves render with lim on a loopback port until the test ends.
func serveTest(t *testing.T, render renderFunc, lim limits) *Server {
	t.Helper()
	s, err := serve(context.Background(), "127.0.0.1:0", render, lim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	return s
}

// exchange writes raw on a new connection to addr, shuts the write side
// if halfClose, and reads one response to method with net/http's parser;
// then it closes the connection.
func exchange(t *testing.T, addr, raw, method string, halfClose bool) (*http.Response, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("writing %.40q: %v", raw, err)
	}
	if halfClose {
		c.(*net.TCPConn).CloseWrite()
	}
	return readResponse(t, bufio.NewReader(c), method)
}

// readResponse reads one response to method from br.
func readResponse(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading the answer to %s: %v", method, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("answer to %s: body: %v", method, err)
	}
	return resp, string(body)
}

// scrapeOver GETs /metrics from s and returns the status code and body.
func scrapeOver(t *testing.T, s *Server) (int, string) {
	t.Helper()
	resp, body := exchange(t, s.Addr().String(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "GET", false)
	return resp.StatusCode, body
}

// TestResponses: what the server answers to each kind of request over a
// real socket, every answer read back with net/http's client parser.
func TestResponses(t *testing.T) {
	s := serveTest(t, New().render, defaultLimits)
	big := "GET /metrics HTTP/1.1\r\nX-Pad: " + strings.Repeat("a", maxHeaderBytes+4<<10) + "\r\n\r\n"
	const plain = "text/plain; charset=utf-8"
	cases := []struct {
		name      string
		raw       string
		halfClose bool
		method    string // as net/http should read the answer
		code      int
		body      string // the body holds this; "" for HEAD: empty
	}{
		{"GET", "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", false, "GET", 200, "# TYPE rexec_connections gauge\n"},
		{"HEAD", "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n", false, "HEAD", 200, ""},
		{"query", "GET /metrics?name=go_goroutines&x=%20 HTTP/1.1\r\nHost: x\r\n\r\n", false, "GET", 200, "go_goroutines"},
		{"HTTP/1.0", "GET /metrics HTTP/1.0\r\n\r\n", false, "GET", 200, "rexec_bytes_total"},
		{"standard families", "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", false, "GET", 200, "# TYPE go_gc_duration_seconds summary\n"},
		{"POST", "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", false, "POST", 405, "only GET and HEAD"},
		{"POST with a body", "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", false, "POST", 405, "only GET and HEAD"},
		{"PUT", "PUT /metrics HTTP/1.1\r\nHost: x\r\n\r\n", false, "PUT", 405, "only GET and HEAD"},
		{"OPTIONS", "OPTIONS /metrics HTTP/1.1\r\nHost: x\r\n\r\n", false, "OPTIONS", 405, "only GET and HEAD"},
		{"lower-case get", "get /metrics HTTP/1.1\r\nHost: x\r\n\r\n", false, "GET", 405, "only GET and HEAD"},
		{"other path", "GET /other HTTP/1.1\r\nHost: x\r\n\r\n", false, "GET", 404, "not found"},
		{"root", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false, "GET", 404, "not found"},
		{"sub-path", "GET /metrics/x HTTP/1.1\r\nHost: x\r\n\r\n", false, "GET", 404, "not found"},
		{"HEAD other path", "HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n", false, "HEAD", 404, ""},
		{"POST other path", "POST /nope HTTP/1.1\r\nHost: x\r\n\r\n", false, "POST", 404, "not found"},
		{"no Host in HTTP/1.1", "GET /metrics HTTP/1.1\r\n\r\n", false, "GET", 400, "missing required Host header"},
		{"two Hosts", "GET /metrics HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", false, "GET", 400, "Bad Request"},
		{"garbage", "hello\r\n\r\n", false, "GET", 400, "Bad Request"},
		{"binary garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n", false, "GET", 400, "Bad Request"},
		{"HTTP/2.0", "GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n", false, "GET", 505, "unsupported protocol version"},
		{"control byte", "GET /metrics HTTP/1.1\r\nHost: x\r\nX: \x01\r\n\r\n", false, "GET", 400, "Bad Request"},
		{"cut short", "GET /metrics HTTP/1.1\r\nHost: x\r\n", true, "GET", 400, "Bad Request"},
		{"header over the limit", big, false, "GET", 431, "Request Header Fields Too Large"},
	}
	for _, c := range cases {
		resp, body := exchange(t, s.Addr().String(), c.raw, c.method, c.halfClose)
		ctype := plain
		if resp.StatusCode == 200 {
			ctype = contentType
		}
		switch {
		case resp.StatusCode != c.code:
			t.Errorf("%s: status %d %q, want %d", c.name, resp.StatusCode, body, c.code)
		case resp.Header.Get("Content-Type") != ctype:
			t.Errorf("%s: Content-Type %q, want %q", c.name, resp.Header.Get("Content-Type"), ctype)
		case (c.code == 405) != (resp.Header.Get("Allow") == "GET, HEAD"):
			t.Errorf("%s: Allow %q", c.name, resp.Header.Get("Allow"))
		case c.body == "" && body != "":
			t.Errorf("%s: body %.80q, want none", c.name, body)
		case !strings.Contains(body, c.body):
			t.Errorf("%s: body %.200q, want it to hold %q", c.name, body, c.body)
		case c.code == 200 && c.method != "HEAD" && resp.Header.Get("Content-Length") != strconv.Itoa(len(body)):
			t.Errorf("%s: Content-Length %q for a body of %d", c.name, resp.Header.Get("Content-Length"), len(body))
		case c.code == 200 && c.method == "HEAD" && resp.ContentLength <= 0:
			t.Errorf("%s: Content-Length %d, want the GET's", c.name, resp.ContentLength)
		case c.code != 200 && strings.Count(body, "\n") > 1:
			t.Errorf("%s: error body %q, want one line", c.name, body)
		case c.code >= 400 && c.code < 500 && c.code != 404 && c.code != 405 && !resp.Close:
			t.Errorf("%s: a refused request left the connection open", c.name)
		}
		if c.code < 400 || c.code == 404 || c.code == 405 {
			if _, err := http.ParseTime(resp.Header.Get("Date")); err != nil {
				t.Errorf("%s: Date %q: %v", c.name, resp.Header.Get("Date"), err)
			}
		}
	}
}

// TestKeepAlive: a scraper may scrape again on the same connection, as
// Prometheus does, HEAD and error answers included.
func TestKeepAlive(t *testing.T) {
	s := serveTest(t, New().render, defaultLimits)
	c, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for i, req := range []struct{ method, path string }{{"GET", "/metrics"}, {"HEAD", "/metrics"}, {"GET", "/nope"}, {"GET", "/metrics"}} {
		if _, err := io.WriteString(c, req.method+" "+req.path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		resp, body := readResponse(t, br, req.method)
		want := 200
		if req.path != "/metrics" {
			want = 404
		}
		if resp.StatusCode != want || resp.Close || req.method == "GET" && want == 200 && !strings.Contains(body, "rexec_connections") {
			t.Errorf("request %d (%s %s) on one connection = %d, close %v, body %.60q", i, req.method, req.path, resp.StatusCode, resp.Close, body)
		}
	}
}

// TestScrapeLimit: with maxScrapesInFlight scrapes stuck, one more is
// answered 503 at once; once they finish, scraping works again.
func TestScrapeLimit(t *testing.T) {
	m := New()
	entered, release := make(chan struct{}, maxScrapesInFlight+1), make(chan struct{})
	s := serveTest(t, blockingRender(m, entered, release), defaultLimits)
	var wg sync.WaitGroup
	codes := make(chan int, maxScrapesInFlight)
	for range maxScrapesInFlight {
		wg.Go(func() {
			code, _ := scrapeOver(t, s)
			codes <- code
		})
	}
	for range maxScrapesInFlight {
		<-entered
	}
	start := time.Now()
	if code, body := scrapeOver(t, s); code != 503 || !strings.Contains(body, "too many") {
		t.Errorf("scrape %d in flight = %d %q, want 503", maxScrapesInFlight+1, code, body)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the refused scrape took %v, want an answer at once", d)
	}
	close(release)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != 200 {
			t.Errorf("a scrape within the limit = %d, want 200", code)
		}
	}
	if code, _ := scrapeOver(t, s); code != 200 {
		t.Errorf("scrape after the others finished = %d, want 200", code)
	}
}

// TestScrapeTimeout: a scrape stuck past the timeout is answered 503; it
// keeps its slot until it returns, then the next one is served.
func TestScrapeTimeout(t *testing.T) {
	m := New()
	entered, release := make(chan struct{}, 2), make(chan struct{})
	lim := defaultLimits
	lim.scrapes, lim.scrapeTimeout = 1, 100*time.Millisecond
	s := serveTest(t, blockingRender(m, entered, release), lim)
	start := time.Now()
	if code, body := scrapeOver(t, s); code != 503 || !strings.Contains(body, "timed out") {
		t.Errorf("stuck scrape = %d %q, want 503 timed out", code, body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stuck scrape answered after %v", d)
	}
	<-entered
	if code, body := scrapeOver(t, s); code != 503 || !strings.Contains(body, "too many") {
		t.Errorf("scrape while the stuck one holds the only slot = %d %q, want 503", code, body)
	}
	close(release)
	for deadline := time.Now().Add(5 * time.Second); ; {
		code, _ := scrapeOver(t, s)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scrape after the stuck one returned = %d, want 200", code)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
