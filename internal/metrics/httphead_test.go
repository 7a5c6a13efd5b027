package metrics

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// headCases are request heads and what parseHead makes of them; they seed
// FuzzRequestHead too.
var headCases = []struct {
	name   string
	head   string
	method string
	path   string
	err    error
}{
	{"prometheus", "GET /metrics HTTP/1.1\r\nHost: h:9\r\nUser-Agent: Prometheus/3.0\r\nAccept: text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\nAccept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n",
		"GET", "/metrics", nil},
	{"no headers", "GET /metrics HTTP/1.1\r\n\r\n", "GET", "/metrics", nil},
	{"HTTP/1.0", "HEAD /metrics HTTP/1.0\r\n\r\n", "HEAD", "/metrics", nil},
	{"bare LF", "GET /metrics HTTP/1.1\nHost: h\n\n", "GET", "/metrics", nil},
	{"mixed line ends", "GET /metrics HTTP/1.1\nHost: h\r\n\n", "GET", "/metrics", nil},
	{"query", "GET /metrics?name=go_goroutines&x=%20y HTTP/1.1\r\n\r\n", "GET", "/metrics", nil},
	{"other path", "GET /metrics/x HTTP/1.1\r\n\r\n", "GET", "/metrics/x", nil},
	{"escaped path", "GET /%6Detrics HTTP/1.1\r\n\r\n", "GET", "/%6Detrics", nil},
	{"other method", "DELETE /metrics HTTP/1.1\r\n\r\n", "DELETE", "/metrics", nil},
	{"lower-case method", "get /metrics HTTP/1.1\r\n\r\n", "get", "/metrics", nil},
	{"empty header value", "GET /metrics HTTP/1.1\r\nX-Empty:\r\n\r\n", "GET", "/metrics", nil},
	{"obs-text value", "GET /metrics HTTP/1.1\r\nX-Name: caf\xc3\xa9\r\n\r\n", "GET", "/metrics", nil},
	{"Content-Length 0", "POST /metrics HTTP/1.1\r\ncontent-length: 00\r\n\r\n", "POST", "/metrics", nil},
	{"body after head", "GET /metrics HTTP/1.1\r\n\r\nextra", "GET", "/metrics", nil},

	{"empty", "", "", "", errHeadTruncated},
	{"no end", "GET /metrics HTTP/1.1\r\nHost: h\r\n", "", "", errHeadTruncated},
	{"leading empty line", "\r\nGET /metrics HTTP/1.1\r\n\r\n", "", "", errRequestLine},
	{"garbage", "hello\r\n\r\n", "", "", errRequestLine},
	{"HTTP/0.9", "GET /metrics\r\n\r\n", "", "", errRequestLine},
	{"two spaces", "GET  /metrics HTTP/1.1\r\n\r\n", "", "", errRequestLine},
	{"trailing space", "GET /metrics HTTP/1.1 \r\n\r\n", "", "", errRequestLine},
	{"tab separator", "GET\t/metrics HTTP/1.1\r\n\r\n", "", "", errRequestLine},
	{"empty method", " /metrics HTTP/1.1\r\n\r\n", "", "", errRequestLine},
	{"bad method", "GE(T /metrics HTTP/1.1\r\n\r\n", "", "", errRequestLine},
	{"lower-case version", "GET /metrics http/1.1\r\n\r\n", "", "", errRequestLine},
	{"HTTP/2.0", "GET /metrics HTTP/2.0\r\n\r\n", "", "", errVersion},
	{"HTTP/1.2", "GET /metrics HTTP/1.2\r\n\r\n", "", "", errVersion},
	{"empty target", "GET  HTTP/1.1\r\n\r\n", "", "", errTarget},
	{"asterisk", "OPTIONS * HTTP/1.1\r\n\r\n", "", "", errTarget},
	{"authority-form", "CONNECT h:443 HTTP/1.1\r\n\r\n", "", "", errTarget},
	{"absolute-form", "GET http://h:9/metrics HTTP/1.1\r\n\r\n", "", "", errTarget},
	{"bad escape", "GET /metrics%zz HTTP/1.1\r\n\r\n", "", "", errTarget},
	{"short escape", "GET /metrics% HTTP/1.1\r\n\r\n", "", "", errTarget},
	{"fragment", "GET /metrics#x HTTP/1.1\r\n\r\n", "", "", errTarget},
	{"non-ASCII target", "GET /m\xc3\xa9trics HTTP/1.1\r\n\r\n", "", "", errTarget},
	{"NUL in target", "GET /metrics\x00 HTTP/1.1\r\n\r\n", "", "", errTarget},
	{"CR in request line", "GET /metrics\rHTTP/1.1\r\n\r\n", "", "", errRequestLine},
	{"obs-fold", "GET /metrics HTTP/1.1\r\nX-A: 1\r\n  2\r\n\r\n", "", "", errHeaderLine},
	{"no colon", "GET /metrics HTTP/1.1\r\nHost\r\n\r\n", "", "", errHeaderLine},
	{"two Host headers", "GET /metrics HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", "", "", errHosts},
	{"space before colon", "GET /metrics HTTP/1.1\r\nHost : h\r\n\r\n", "", "", errHeaderLine},
	{"empty name", "GET /metrics HTTP/1.1\r\n: h\r\n\r\n", "", "", errHeaderLine},
	{"NUL in value", "GET /metrics HTTP/1.1\r\nHost: h\x00\r\n\r\n", "", "", errHeaderLine},
	{"DEL in value", "GET /metrics HTTP/1.1\r\nHost: h\x7f\r\n\r\n", "", "", errHeaderLine},
	{"bare CR in value", "GET /metrics HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", "", "", errHeaderLine},
	{"Content-Length", "POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", "", "", errBody},
	{"Content-Length empty", "POST /metrics HTTP/1.1\r\nContent-Length:\r\n\r\n", "", "", errHeaderLine},
	{"Content-Length sign", "POST /metrics HTTP/1.1\r\nContent-Length: +0\r\n\r\n", "", "", errHeaderLine},
	{"Content-Length list", "POST /metrics HTTP/1.1\r\nContent-Length: 0, 0\r\n\r\n", "", "", errHeaderLine},
	{"Transfer-Encoding", "POST /metrics HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n", "", "", errBody},
}

func TestParseHead(t *testing.T) {
	for _, c := range headCases {
		req, err := parseHead([]byte(c.head))
		if !errors.Is(err, c.err) || req.method != c.method || req.path != c.path {
			t.Errorf("%s: parseHead(%q) = %q %q, %v; want %q %q, %v", c.name, c.head, req.method, req.path, err,
				c.method, c.path, c.err)
		}
	}
}

func TestHeadEnd(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{"", -1},
		{"GET / HTTP/1.1\r\n", -1},
		{"GET / HTTP/1.1\r\n\r", -1},
		{"GET / HTTP/1.1\r\n\r\n", 18},
		{"GET / HTTP/1.1\n\n", 16},
		{"GET / HTTP/1.1\n\r\nbody", 17},
		{"GET / HTTP/1.1\r\nA: b\r\n\r\n\r\n", 24},
		{"\n\n", 2},
		{"\r\n", -1},
	} {
		if got := headEnd([]byte(c.in)); got != c.want {
			t.Errorf("headEnd(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

// TestAppendResponse: the encoding, read back with net/http's parser.
func TestAppendResponse(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("x", 3600))
	r := textResponse(405, "metrics: only GET and HEAD")
	r.allow = true
	got := string(appendResponse(nil, r, false, now))
	want := "HTTP/1.1 405 Method Not Allowed\r\nDate: Tue, 04 Mar 2025 04:06:07 GMT\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 27\r\nAllow: GET, HEAD\r\n" +
		"Connection: close\r\n\r\nmetrics: only GET and HEAD\n"
	if got != want {
		t.Errorf("appendResponse = %q\nwant %q", got, want)
	}
	head := string(appendResponse(nil, response{status: 200, ctype: contentType, body: []byte("x 1\n")}, true, now))
	if !strings.HasSuffix(head, "Content-Length: 4\r\nConnection: close\r\n\r\n") {
		t.Errorf("HEAD answer = %q, want the GET's Content-Length and no body", head)
	}
	for status := range statusText {
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(
			string(appendResponse(nil, textResponse(status, "x"), false, now)))), nil)
		if err != nil || resp.StatusCode != status || !resp.Close || resp.ContentLength != 2 {
			t.Errorf("status %d reads back as %v, %v", status, resp, err)
		}
	}
}

// FuzzRequestHead: parseHead never panics, ignores what follows the head,
// and accepts only what net/http's own request parser accepts too, with
// the same method and path.
func FuzzRequestHead(f *testing.F) {
	for _, c := range headCases {
		f.Add([]byte(c.head))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := parseHead(b)
		end := headEnd(b)
		if err != nil {
			if s := statusOf(err); s != 400 && s != 431 {
				t.Fatalf("statusOf(%v) = %d", err, s)
			}
			return
		}
		if end < 0 {
			t.Fatalf("parseHead(%q) accepted a head with no end", b)
		}
		if again, err := parseHead(b[:end]); err != nil || again != req {
			t.Fatalf("parseHead(%q) = %v, %v; without what follows the head = %v, %v", b, req, nil, again, err)
		}
		if !isToken([]byte(req.method)) || !strings.HasPrefix(req.path, "/") || strings.Contains(req.path, "?") ||
			!isURIChars([]byte(req.path)) {
			t.Fatalf("parseHead(%q) = %q %q", b, req.method, req.path)
		}
		hr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b[:end])))
		if err != nil {
			t.Fatalf("parseHead(%q) accepted what net/http refuses: %v", b, err)
		}
		if hr.Method != req.method || hr.ContentLength > 0 || len(hr.TransferEncoding) != 0 {
			t.Fatalf("parseHead(%q) = %q; net/http: %q, length %d, %v", b, req.method, hr.Method,
				hr.ContentLength, hr.TransferEncoding)
		}
		if uri, _, _ := strings.Cut(hr.RequestURI, "?"); uri != req.path {
			t.Fatalf("parseHead(%q) path %q; net/http's %q", b, req.path, uri)
		}
	})
}
