package legacy

import (
	"bytes"
)

// foreign names the other protocol a command looks like; "" is none.
type foreign string

// What sniff recognises. A browser, curl or any other client of these
// protocols that is pointed at the legacy port sends one of them first.
const (
	notForeign  foreign = ""
	httpRequest foreign = "an HTTP request line"
	httpHeader  foreign = "an HTTP header line"
	tlsRecord   foreign = "a TLS handshake record"
	sshBanner   foreign = "an SSH banner"
)

// sniff reports whether b, the bytes of one command as received, looks
// like the start of another protocol rather than a shell command, and
// which. Such a command is not run (docs/SECURITY.md, "The legacy
// listener"). It recognises:
//
//   - a TLS record header: 0x16 (handshake), then 0x03 and a minor version
//     0x00..0x04, or a prefix of that; any ClientHello starts so;
//   - an SSH banner, "SSH-", which SSH clients send before anything else;
//   - an HTTP request line, the first line ending in a space and
//     "HTTP/" digits "." digits after at least a method and a target
//     (with or without CRLF, case-insensitive, spaces at the end
//     ignored), such as `GET /;touch$IFS/tmp/p; HTTP/1.1` or HTTP/2's
//     `PRI * HTTP/2.0`; or a status line, which starts with that version;
//   - an HTTP header line: a line starting "Host:" anywhere in b, or a
//     `Token: value` line ended by CRLF as the first or second line.
//
// Empty lines before the first are skipped, as HTTP servers skip them.
// The rules err towards refusing: a shell command that ends in
// " HTTP/1.1" is refused too. Other binary protocols need no rule: a
// command holding a NUL byte cannot be started at all.
func sniff(b []byte) foreign {
	switch {
	case len(b) == 0:
		return notForeign
	case isTLSRecordStart(b):
		return tlsRecord
	case bytes.HasPrefix(b, []byte("SSH-")):
		return sshBanner
	}
	b = bytes.TrimLeft(b, "\r\n")
	first, rest, _ := bytes.Cut(b, []byte("\n"))
	second, _, secondEnded := bytes.Cut(rest, []byte("\n"))
	switch {
	case isRequestLine(first) || isStatusLine(first):
		return httpRequest
	case isHeaderLine(first) || secondEnded && isHeaderLine(second):
		return httpHeader
	case hasHostLine(b):
		return httpHeader
	}
	return notForeign
}

// TLS record framing: a handshake record's type, and the major version
// every TLS and SSL 3.0 record carries.
const (
	tlsHandshake      = 0x16
	tlsMajor          = 0x03
	tlsMaxMinor       = 0x04
	tlsRecordPrefixes = 3
)

// isTLSRecordStart reports whether b starts with a TLS handshake record
// header (type, major, minor), or is a prefix of one.
func isTLSRecordStart(b []byte) bool {
	hdr := b[:min(len(b), tlsRecordPrefixes)]
	if hdr[0] != tlsHandshake {
		return false
	}
	return len(hdr) < 2 || hdr[1] == tlsMajor && (len(hdr) < 3 || hdr[2] <= tlsMaxMinor)
}

// isRequestLine reports whether line (without its LF) is "METHOD TARGET
// HTTP/x.y": at least three words, the last an HTTP version.
func isRequestLine(line []byte) bool {
	words := bytes.Fields(bytes.TrimRight(line, "\r"))
	return len(words) >= 3 && isHTTPVersion(words[len(words)-1])
}

// isStatusLine reports whether line is a response's "HTTP/x.y CODE ...".
func isStatusLine(line []byte) bool {
	words := bytes.Fields(line)
	return len(words) >= 2 && isHTTPVersion(words[0])
}

// isHTTPVersion reports whether w is "HTTP/" digits, optionally "." digits,
// in any case.
func isHTTPVersion(w []byte) bool {
	const name = "HTTP/"
	if len(w) <= len(name) || !bytes.EqualFold(w[:len(name)], []byte(name)) {
		return false
	}
	major, minor, dot := bytes.Cut(w[len(name):], []byte("."))
	return allDigits(major) && (!dot || allDigits(minor))
}

func allDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isHeaderLine reports whether line (without its LF) is an HTTP header
// field ended by CR: a token, a colon, anything, CR.
func isHeaderLine(line []byte) bool {
	body, ok := bytes.CutSuffix(line, []byte("\r"))
	if !ok {
		return false
	}
	name, _, colon := bytes.Cut(body, []byte(":"))
	return colon && isToken(name)
}

// hasHostLine reports whether any line of b starts with "Host:", in any
// case: the header every HTTP/1.1 request carries.
func hasHostLine(b []byte) bool {
	const host = "host:"
	for line := range bytes.Lines(b) {
		if len(line) >= len(host) && bytes.EqualFold(line[:len(host)], []byte(host)) {
			return true
		}
	}
	return false
}

// isToken reports whether b is an HTTP token (RFC 9110 §5.6.2).
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isTchar(c) {
			return false
		}
	}
	return true
}

func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0
}
