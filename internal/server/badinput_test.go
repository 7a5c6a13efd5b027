//go:build linux

package server

import (
	"net"
	"testing"

	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
)

// badInput is one hostile or broken client input.
type badInput struct {
	name string
	// tls: the bytes are sent after a successful handshake and hello;
	// otherwise straight onto the TCP connection.
	tls        bool
	data       []byte
	closeWrite bool   // half-close after data (TLS close_notify or TCP FIN)
	wantCode   string // the error frame that must arrive; "" when none is required
}

// badInputs is shared with the fuzz target's seeds.
var badInputs = []badInput{
	{name: "tcp garbage", data: []byte("\x00\x01garbage\xff\xfe\r\n\r\n")},
	{name: "http request", data: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
	{name: "tcp eof at once", closeWrite: true},
	{name: "ssh banner", data: []byte("SSH-2.0-OpenSSH_9.6\r\n")},
	{name: "header length 0xFFFFFFFF", tls: true, data: rawFrame(0xFFFFFFFF, "", ""),
		wantCode: protocol.CodeTooLarge},
	{name: "header length just over 64 KiB", tls: true, data: rawFrame(64<<10+1, "", ""),
		wantCode: protocol.CodeTooLarge},
	{name: "body size over 1 MiB", tls: true, data: frameOf(`{"type":"stdin","size":1048577}`, ""),
		wantCode: protocol.CodeTooLarge},
	{name: "empty header", tls: true, data: rawFrame(0, "", ""), wantCode: protocol.CodeProtocol},
	{name: "non-JSON header", tls: true, data: frameOf(`GET / HTTP/1.1`, ""), wantCode: protocol.CodeProtocol},
	{name: "duplicate keys", tls: true, data: frameOf(`{"type":"ping","type":"exec"}`, ""),
		wantCode: protocol.CodeProtocol},
	{name: "duplicate nested keys", tls: true,
		data: frameOf(`{"type":"exec","argv":["true"],"env":{"A":"1","A":"2"}}`, ""), wantCode: protocol.CodeProtocol},
	{name: "wrong-case type key", tls: true, data: frameOf(`{"Type":"ping"}`, ""), wantCode: protocol.CodeProtocol},
	{name: "wrong-case field key", tls: true, data: frameOf(`{"type":"exec","Command":"true"}`, ""),
		wantCode: protocol.CodeProtocol},
	{name: "trailing bytes in header", tls: true, data: frameOf(`{"type":"ping"}{}`, ""),
		wantCode: protocol.CodeProtocol},
	{name: "wrong field type", tls: true, data: frameOf(`{"type":"exec","command":["true"]}`, ""),
		wantCode: protocol.CodeProtocol},
	{name: "null field", tls: true, data: frameOf(`{"type":"exec","command":null}`, ""),
		wantCode: protocol.CodeProtocol},
	{name: "unknown type", tls: true, data: frameOf(`{"type":"frobnicate"}`, ""), wantCode: protocol.CodeProtocol},
	{name: "exec with command and argv", tls: true, data: frameOf(`{"type":"exec","command":"true","argv":["true"]}`, ""),
		wantCode: protocol.CodeProtocol},
	{name: "exec with empty argv[0]", tls: true, data: frameOf(`{"type":"exec","argv":["","x"]}`, ""),
		wantCode: protocol.CodeProtocol},
	{name: "exec with NUL", tls: true, data: frameOf(`{"type":"exec","command":"true\u0000"}`, ""),
		wantCode: protocol.CodeProtocol},
	{name: "exec with huge timeout", tls: true, data: frameOf(`{"type":"exec","command":"true","timeout_ms":1e300}`, ""),
		wantCode: protocol.CodeProtocol},
	{name: "exec with a body", tls: true, data: frameOf(`{"type":"exec","command":"true","size":1}`, "x"),
		wantCode: protocol.CodeProtocol},
	{name: "stdout from the client", tls: true, data: frameOf(`{"type":"stdout","size":2}`, "hi"),
		wantCode: protocol.CodeProtocol},
	{name: "exit from the client", tls: true, data: frameOf(`{"type":"exit","code":0,"duration_ms":1}`, ""),
		wantCode: protocol.CodeProtocol},
	{name: "second hello", tls: true, data: frameOf(`{"type":"hello","version":1}`, ""),
		wantCode: protocol.CodeProtocol},
	{name: "body shorter than size", tls: true, data: frameOf(`{"type":"stdin","size":100}`, "short"),
		closeWrite: true},
	{name: "header cut short", tls: true, data: rawFrame(40, `{"type":"pi`, ""), closeWrite: true},
	{name: "prefix cut short", tls: true, data: []byte{0, 0}, closeWrite: true},
}

// TestBadInput sends each bad input on a new connection: the server closes
// that connection (with an error frame while the stream is usable) and
// still serves a normal client afterwards.
func TestBadInput(t *testing.T) {
	ts := startServer(t, Config{})
	for _, tt := range badInputs {
		t.Run(tt.name, func(t *testing.T) {
			codes, err := sendBad(t, ts, tt)
			if err != nil {
				t.Errorf("%s: %v, want the connection closed", tt.name, err)
			}
			if tt.wantCode != "" && (len(codes) != 1 || codes[0] != tt.wantCode) {
				t.Errorf("%s: error codes %q, want [%q]", tt.name, codes, tt.wantCode)
			}
			ts.checkOK(t)
		})
	}
}

// sendBad delivers one bad input and waits for the server to close the
// connection, returning the error codes it sent.
func sendBad(t *testing.T, ts *testServer, in badInput) ([]string, error) {
	t.Helper()
	nc := ts.dialTCP(t)
	if !in.tls {
		if _, err := nc.Write(in.data); err != nil {
			return nil, nil // already refused
		}
		if in.closeWrite {
			nc.(*net.TCPConn).CloseWrite()
		}
		return nil, rawCloseWait(nc, testTimeout)
	}
	c, err := handshake(nc, ts.client, ts.host.Public, protocol.Hello{Version: protocol.Version})
	if err != nil {
		t.Fatalf("handshake = %v", err)
	}
	if _, err := c.tc.Write(in.data); err != nil {
		t.Fatalf("writing %q: %v", in.data, err)
	}
	if in.closeWrite {
		if err := c.tc.CloseWrite(); err != nil {
			t.Fatalf("CloseWrite = %v", err)
		}
	}
	return readUntilClosed(c.tc, testTimeout)
}

// TestBadInputDuringSession sends a bad frame while a session runs: the
// connection closes and the session's tree is killed.
func TestBadInputDuringSession(t *testing.T) {
	ts := startServer(t, Config{})
	for _, tt := range badInputs {
		if !tt.tls {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			c := ts.dial(t)
			if err := c.send(protocol.Exec{Command: "echo $$; exec sleep 100"}); err != nil {
				t.Fatal(err)
			}
			pids := c.readPIDs(t, 1)
			if _, err := c.tc.Write(tt.data); err != nil {
				t.Fatalf("writing %q: %v", tt.data, err)
			}
			if tt.closeWrite {
				if err := c.tc.CloseWrite(); err != nil {
					t.Fatalf("CloseWrite = %v", err)
				}
			}
			codes, err := readUntilClosed(c.tc, testTimeout)
			if err != nil {
				t.Errorf("%s during a session: %v, want the connection closed", tt.name, err)
			}
			if tt.wantCode != "" && !contains(codes, tt.wantCode) {
				t.Errorf("%s during a session: error codes %q, want %q", tt.name, codes, tt.wantCode)
			}
			rexectest.CheckGone(t, killWait, pids...)
		})
	}
	ts.checkOK(t)
}
