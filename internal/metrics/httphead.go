package metrics

import (
	"bytes"
	"errors"
	"strconv"
	"time"
)

// The HTTP/1.x that /metrics speaks (RFC 9112), no more: one request head
// per connection, no body, one response, then close. A scraper sends
// "GET /metrics HTTP/1.1", a Host, an Accept and a User-Agent; everything
// here is about refusing the rest cheaply and without surprises.

// maxHeadBytes bounds the request head (request line and header lines),
// and so the buffer each connection reads it into. Prometheus sends about
// 300 bytes; the net/http server that served /metrics before had the same
// 8 KiB limit.
const maxHeadBytes = 8 << 10

// Errors that refuse a request head, each answered with statusOf's code
// and its own text as the one-line body: none of them says more than the
// client sent.
var (
	errHeadTooLarge  = errors.New("metrics: request head over 8 KiB")
	errHeadTruncated = errors.New("metrics: request head cut short")
	errRequestLine   = errors.New("metrics: malformed request line")
	errVersion       = errors.New("metrics: only HTTP/1.0 and HTTP/1.1")
	errTarget        = errors.New("metrics: malformed request target")
	errHeaderLine    = errors.New("metrics: malformed header line")
	errBody          = errors.New("metrics: a request body is not accepted")
	errHosts         = errors.New("metrics: more than one Host header")
)

// statusOf is the status code that answers a refused head: 431 for one
// too large (RFC 6585 §5), 400 for everything else.
func statusOf(err error) int {
	if errors.Is(err, errHeadTooLarge) {
		return 431
	}
	return 400
}

// requestHead is what /metrics needs of a request: the method as sent
// (methods are case-sensitive, RFC 9110 §9.1) and the path of the target,
// without its query, undecoded.
type requestHead struct {
	method string
	path   string
}

// headEnd returns the length of the request head at the start of b, up to
// and including the empty line that ends it (CRLF CRLF, or bare LFs as
// RFC 9112 §2.2 allows), or -1 if b holds no complete head yet.
func headEnd(b []byte) int {
	for i := 0; ; i++ {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j
		switch {
		case i+1 < len(b) && b[i+1] == '\n':
			return i + 2
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			return i + 3
		}
	}
}

// parseHead parses the request head at the start of b; what follows the
// empty line that ends it is not looked at. It is strict:
// exactly one SP between the three parts of the request line, an
// origin-form target of RFC 3986 characters, HTTP/1.0 or
// HTTP/1.1, header names that are tokens, no control bytes, no
// obs-fold, no leading empty line. Header values are otherwise ignored,
// but Content-Length other than 0 and Transfer-Encoding refuse the
// request: a body is unexpected and would be left unread. So does a
// second Host header (RFC 9112 §3.2: a server must answer it with 400).
func parseHead(b []byte) (requestHead, error) {
	line, rest, ok := cutLine(b)
	if !ok {
		return requestHead{}, errHeadTruncated
	}
	req, err := parseRequestLine(line)
	if err != nil {
		return requestHead{}, err
	}
	hosts := 0
	for {
		if line, rest, ok = cutLine(rest); !ok {
			return requestHead{}, errHeadTruncated
		}
		if len(line) == 0 {
			return req, nil
		}
		if err := checkHeaderLine(line); err != nil {
			return requestHead{}, err
		}
		if name, _, _ := bytes.Cut(line, []byte{':'}); bytes.EqualFold(name, []byte("Host")) {
			if hosts++; hosts > 1 {
				return requestHead{}, errHosts
			}
		}
	}
}

// cutLine splits b after its first LF and returns the line before it,
// without the LF and one CR before it; ok is false if b has no LF.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	line, rest, ok = bytes.Cut(b, []byte{'\n'})
	return bytes.TrimSuffix(line, []byte{'\r'}), rest, ok
}

// parseRequestLine parses METHOD SP TARGET SP VERSION (RFC 9112 §3).
func parseRequestLine(line []byte) (requestHead, error) {
	method, rest, ok1 := bytes.Cut(line, []byte{' '})
	target, version, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || !isToken(method) {
		return requestHead{}, errRequestLine
	}
	if string(version) != "HTTP/1.1" && string(version) != "HTTP/1.0" {
		if isHTTPVersion(version) {
			return requestHead{}, errVersion
		}
		return requestHead{}, errRequestLine
	}
	path, ok := targetPath(target)
	if !ok {
		return requestHead{}, errTarget
	}
	return requestHead{method: string(method), path: string(path)}, nil
}

// isHTTPVersion reports whether v is HTTP-version's shape, HTTP/d.d.
func isHTTPVersion(v []byte) bool {
	return len(v) == 8 && string(v[:5]) == "HTTP/" && isDigit(v[5]) && v[6] == '.' && isDigit(v[7])
}

// targetPath returns the path of an origin-form target ("/metrics?x=1",
// RFC 9112 §3.2.1) without its query. Any byte that is neither a URI
// character nor part of a %HH escape refuses it, and so do the other
// forms: absolute-form ("http://host/metrics") is for requests through a
// proxy, which a scraper does not send to this port, and asterisk- and
// authority-form are for OPTIONS and CONNECT. The path is not decoded, so
// "/%6Detrics" is not /metrics.
func targetPath(t []byte) ([]byte, bool) {
	if len(t) == 0 || t[0] != '/' || !isURIChars(t) {
		return nil, false
	}
	path, _, _ := bytes.Cut(t, []byte{'?'})
	return path, true
}

// checkHeaderLine checks one field line, name ":" OWS value OWS (RFC 9112
// §5): the name a token with no whitespace before the colon, the value
// visible characters, SP, HTAB or obs-text. A line that starts with
// whitespace is obs-fold, which a server may refuse (§5.2) and this one
// does.
func checkHeaderLine(line []byte) error {
	name, value, ok := bytes.Cut(line, []byte{':'})
	if !ok || !isToken(name) {
		return errHeaderLine
	}
	for _, c := range value {
		if c != '\t' && (c < ' ' || c == 0x7f) {
			return errHeaderLine
		}
	}
	value = bytes.Trim(value, " \t")
	switch {
	case bytes.EqualFold(name, []byte("Transfer-Encoding")):
		return errBody
	case bytes.EqualFold(name, []byte("Content-Length")):
		if len(value) == 0 || len(bytes.TrimLeft(value, "0123456789")) != 0 {
			return errHeaderLine
		}
		if len(bytes.TrimLeft(value, "0")) != 0 {
			return errBody
		}
	}
	return nil
}

// isToken reports whether b is a non-empty token (RFC 9110 §5.6.2).
func isToken(b []byte) bool {
	for _, c := range b {
		if !isTchar(c) {
			return false
		}
	}
	return len(b) > 0
}

func isTchar(c byte) bool {
	return isAlnum(c) || bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0
}

// isURIChars reports whether t is made of what RFC 3986 allows in a path
// and a query (unreserved, sub-delims, ":", "@", "/", "?") and %HH
// escapes, which is also what keeps control bytes, spaces and non-ASCII
// out of the target.
func isURIChars(t []byte) bool {
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case isAlnum(c) || bytes.IndexByte([]byte("-._~!$&'()*+,;=:@/?"), c) >= 0:
		case c == '%' && i+2 < len(t) && isHex(t[i+1]) && isHex(t[i+2]):
			i += 2
		default:
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlnum(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isHex(c byte) bool   { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// response is one answer of /metrics before it is encoded.
type response struct {
	status int
	ctype  string // Content-Type
	body   []byte
	allow  bool // a 405: say which methods are
}

// textResponse is an error answer: status and one line of text.
func textResponse(status int, text string) response {
	return response{status: status, ctype: "text/plain; charset=utf-8", body: []byte(text + "\n")}
}

// statusText is the reason phrase of each status /metrics sends.
var statusText = map[int]string{
	200: "OK",
	400: "Bad Request",
	404: "Not Found",
	405: "Method Not Allowed",
	431: "Request Header Fields Too Large",
	503: "Service Unavailable",
}

// appendResponse encodes r as an HTTP/1.1 response on b. Every response
// closes the connection and says so; Content-Length is always the body's
// length, and with omitBody (the answer to HEAD) the body itself is left
// out. Date is required of a server with a clock (RFC 9110 §6.6.1).
func appendResponse(b []byte, r response, omitBody bool, now time.Time) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	b = append(b, ' ')
	b = append(b, statusText[r.status]...)
	b = append(b, "\r\nDate: "...)
	b = now.UTC().AppendFormat(b, "Mon, 02 Jan 2006 15:04:05 GMT")
	b = append(b, "\r\nContent-Type: "...)
	b = append(b, r.ctype...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(r.body)), 10)
	if r.allow {
		b = append(b, "\r\nAllow: GET, HEAD"...)
	}
	b = append(b, "\r\nConnection: close\r\n\r\n"...)
	if !omitBody {
		b = append(b, r.body...)
	}
	return b
}
