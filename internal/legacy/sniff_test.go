package legacy

import (
	"bytes"
	"testing"
)

var sniffTests = []struct {
	name string
	in   string
	want foreign
}{
	// What browsers and curl send first.
	{"the attack request line", "GET /;touch$IFS/tmp/p; HTTP/1.1", httpRequest},
	{"the attack with CRLF", "GET /;touch$IFS/tmp/p; HTTP/1.1\r\n", httpRequest},
	{"the attack with LF only", "GET /;touch$IFS/tmp/p; HTTP/1.1\n", httpRequest},
	{"curl", "GET / HTTP/1.1\r\nHost: 127.0.0.1:8081\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n", httpRequest},
	{"browser fetch with its own method", "touch /x HTTP/1.1\r\nHost: 127.0.0.1:8081\r\nConnection: keep-alive\r\n\r\n", httpRequest},
	{"curl -X with spaces", "touch /tmp/p; / HTTP/1.1\r\nHost: localhost\r\n\r\n", httpRequest},
	{"form post", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\ntouch /tmp/p", httpRequest},
	{"preflight", "OPTIONS /x HTTP/1.1\r\nHost: x\r\nAccess-Control-Request-Method: PUT\r\n\r\n", httpRequest},
	{"websocket", "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", httpRequest},
	{"proxy connect", "CONNECT 127.0.0.1:8081 HTTP/1.1\r\nHost: 127.0.0.1:8081\r\n\r\n", httpRequest},
	{"absolute form", "GET http://127.0.0.1:8081/ HTTP/1.0\r\n\r\n", httpRequest},
	{"http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", httpRequest},
	{"lower case version", "get / http/1.1", httpRequest},
	{"version without minor", "GET / HTTP/2", httpRequest},
	{"tabs and trailing space", "GET\t/x\tHTTP/1.1 \r\n", httpRequest},
	{"empty lines first", "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n", httpRequest},
	{"status line", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", httpRequest},
	{"errs towards refusing", "echo GET / HTTP/1.1", httpRequest},
	{"headers sent apart", "Host: 127.0.0.1:8081\r\nAccept: */*\r\n\r\n", httpHeader},
	{"host header without CRLF", "Host: x", httpHeader},
	{"a header line first", "User-Agent: curl/8.5.0\r\n", httpHeader},
	{"header second after a missed first line", "GET /x\r\nAccept: */*\r\n", httpHeader},
	{"host line later", "GET /x\nfoo\nhost: x\n", httpHeader},
	{"tls 1.0 record of a ClientHello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", tlsRecord},
	{"tls 1.2 record", "\x16\x03\x03\x00\x2a", tlsRecord},
	{"ssl 3.0 record", "\x16\x03\x00\x00\x2a", tlsRecord},
	{"tls minor 4", "\x16\x03\x04\x01", tlsRecord},
	{"tls prefix of one byte", "\x16", tlsRecord},
	{"tls prefix of two bytes", "\x16\x03", tlsRecord},
	{"ssh banner", "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n", sshBanner},
	{"ssh 1.99 banner", "SSH-1.99-old", sshBanner},
	{"ssh banner start", "SSH-", sshBanner},
	{"not tls: major 4", "\x16\x04\x01", notForeign},
	{"not tls: minor 5", "\x16\x03\x05", notForeign},

	// Shell commands, which run.
	{"empty", "", notForeign},
	{"ls", "ls -l", notForeign},
	{"echo", "echo hi", notForeign},
	{"chinese", "echo 中文", notForeign},
	{"exit", "exit 3", notForeign},
	{"two words before a version", "echo HTTP/1.1", notForeign},
	{"no version", "GET / HTTP", notForeign},
	{"version with letters", "GET / HTTP/1.x", notForeign},
	{"curl command", "curl -s http://localhost:8080/ -H 'Host: x'", notForeign},
	{"heredoc with a colon, LF only", "cat <<EOF\nfoo: bar\nEOF", notForeign},
	{"colon command", ": nothing", notForeign},
	{"ssh-keygen", "ssh-keygen -lf key.pub", notForeign},
	{"ssh command", "ssh host uname", notForeign},
	{"loop", "for i in 1 2; do echo $i; done", notForeign},
	{"printf with CR", "printf 'a\\r\\n'", notForeign},
	{"command ending in CRLF", "ls -l\r\n", notForeign},
}

func TestSniff(t *testing.T) {
	for _, tt := range sniffTests {
		if got := sniff([]byte(tt.in)); got != tt.want {
			t.Errorf("%s: sniff(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func FuzzSniff(f *testing.F) {
	for _, tt := range sniffTests {
		f.Add([]byte(tt.in), []byte("X-More: y\r\n"))
	}
	f.Fuzz(func(t *testing.T, b, more []byte) {
		got := sniff(b)
		switch got {
		case notForeign, httpRequest, httpHeader, tlsRecord, sshBanner:
		default:
			t.Fatalf("sniff(%q) = %q, not a known result", b, got)
		}
		// What follows a complete line cannot undo a finding: a peer
		// that sends more in the same packet is refused all the same.
		if got != notForeign && bytes.HasSuffix(b, []byte("\n")) && sniff(append(bytes.Clone(b), more...)) == notForeign {
			t.Fatalf("sniff(%q) = %q, but with %q after it nothing", b, got, more)
		}
	})
}
