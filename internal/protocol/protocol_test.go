package protocol

import (
	"bytes"
	"errors"
	"io"
	"net"
	"reflect"
	"testing"

	"github.com/rexec-dev/rexec/internal/protocol/frame"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func decodeString(t *testing.T, hdr string, body string) (Message, error) {
	t.Helper()
	fields, _, err := frame.DecodeHeader([]byte(hdr))
	if err != nil {
		return nil, err
	}
	return Decode(frame.Frame{Fields: fields, Raw: []byte(hdr), Body: []byte(body)})
}

func TestDecode(t *testing.T) {
	tests := []struct {
		hdr     string
		body    string
		want    Message
		wantErr error
	}{
		{`{"type":"hello","version":1,"software":"x","os":"linux","encoding":"utf-8"}`, "", Hello{Version: 1, Software: "x", OS: "linux", Encoding: "utf-8"}, nil},
		{`{"type":"hello","version":1,"future":{"x":[1,2]}}`, "", Hello{Version: 1}, nil},
		{`{"type":"exec","argv":["printf","%s","a b"],"env":{"A":"1"},"timeout_ms":1000}`, "", Exec{Argv: []string{"printf", "%s", "a b"}, Env: map[string]string{"A": "1"}, TimeoutMS: 1000}, nil},
		{`{"type":"exec","command":"echo hi"}`, "", Exec{Command: "echo hi"}, nil},
		{`{"type":"exec","pty":true,"term":"xterm","rows":24,"cols":80}`, "", Exec{PTY: true, Term: "xterm", Rows: 24, Cols: 80}, nil},
		{`{"type":"stdin","size":3}`, "abc", Data{Stream: TypeStdin, Body: []byte("abc")}, nil},
		{`{"type":"stdin_eof"}`, "", StdinEOF{}, nil},
		{`{"type":"signal","signal":"INT"}`, "", Signal{Signal: "INT"}, nil},
		{`{"type":"exit","code":0,"duration_ms":3}`, "", Exit{DurationMS: 3}, nil},
		{`{"type":"error","code":"denied","message":"no"}`, "", Error{Code: "denied", Message: "no"}, nil},
		// refusals
		{`{"Type":"hello","version":1}`, "", nil, ErrBadField},
		{`{"type":"hello","Version":1}`, "", nil, ErrBadField},
		{`{"type":"hello","version":1,"SIZE":0}`, "", nil, ErrBadField},
		{`{"type":"nope"}`, "", nil, ErrUnknownType},
		{`{"type":7}`, "", nil, ErrBadField},
		{`{"size":0}`, "", nil, ErrBadField},
		{`{"type":"hello","version":"1"}`, "", nil, ErrBadField},
		{`{"type":"hello","version":null}`, "", nil, ErrBadField},
		{`{"type":"hello","version":1.5}`, "", nil, ErrBadField},
		{`{"type":"hello"}`, "", nil, ErrBadField},
		{`{"type":"exec","command":"x","argv":["y"]}`, "", nil, ErrBadField},
		{`{"type":"exec"}`, "", Exec{}, nil}, // the login shell
		{`{"type":"exec","argv":["a",null]}`, "", nil, ErrBadField},
		{`{"type":"exec","argv":[""]}`, "", nil, ErrBadField},
		{`{"type":"exec","command":"x","argv":["y"]}`, "", nil, ErrBadField},
		{`{"type":"exec","command":"a\u0000b"}`, "", nil, ErrBadField},
		{`{"type":"exec","command":"x","env":{"A=B":"1"}}`, "", nil, ErrBadField},
		{`{"type":"exec","command":"x","timeout_ms":-1}`, "", nil, ErrBadField},
		{`{"type":"exec","command":"x","rows":99999999999999999999}`, "", nil, ErrBadField},
		{`{"type":"exec","subsystem":"sftp"}`, "", Exec{Subsystem: "sftp"}, nil},
		{`{"type":"hello","version":1,"keys":["AAAA"]}`, "", Hello{Version: 1, Keys: [][]byte{{0, 0, 0}}}, nil},
		{`{"type":"hello","version":1,"keys":[""]}`, "", nil, ErrBadField},
		{`{"type":"hello","version":1,"keys":["!!"]}`, "", nil, ErrBadField},
		{`{"type":"hello","version":1,"keys":["AA","AA","AA","AA","AA","AA","AA","AA","AA","AA","AA","AA","AA","AA","AA","AA","AA"]}`, "", nil, ErrBadField},
		{`{"type":"key_ok","key":"AAAA"}`, "", KeyOK{Key: []byte{0, 0, 0}}, nil},
		{`{"type":"key_ok"}`, "", nil, ErrBadField},
		{`{"type":"key_proof","signature":"AAAA"}`, "", KeyProof{Signature: []byte{0, 0, 0}}, nil},
		{`{"type":"key_proof","signature":""}`, "", nil, ErrBadField},
		{`{"type":"exec","command":"x","send_env":{"LANG":"C"}}`, "", Exec{Command: "x", SendEnv: map[string]string{"LANG": "C"}}, nil},
		{`{"type":"exec","subsystem":"sftp","command":"x"}`, "", nil, ErrBadField},
		{`{"type":"exec","subsystem":"sftp","argv":["x"]}`, "", nil, ErrBadField},
		{`{"type":"exec","subsystem":"a b"}`, "", nil, ErrBadField},
		{`{"type":"exec","subsystem":"/bin/sh"}`, "", nil, ErrBadField},
		{`{"type":"exec","command":"x","send_env":{"A=B":"1"}}`, "", nil, ErrBadField},
		{`{"type":"exec","command":"x","send_env":{"A":"1\u0000"}}`, "", nil, ErrBadField},
		{`{"type":"resize","rows":0,"cols":80}`, "", nil, ErrBadField},
		{`{"type":"stdin_ack","count":-5}`, "", nil, ErrBadField},
		{`{"type":"ping","size":2}`, "hi", nil, ErrBadField},
	}
	for _, tt := range tests {
		got, err := decodeString(t, tt.hdr, tt.body)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Decode(%s) error = %v, want %v", tt.hdr, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Decode(%s) = %#v, %v; want %#v", tt.hdr, got, err, tt.want)
		}
	}
}

// pipeConn is an in-memory stream for round-trip tests of Conn.
type pipeConn struct {
	io.Reader
	io.Writer
}

func (pipeConn) Close() error { return nil }

func TestRoundTrip(t *testing.T) {
	msgs := []Message{
		Hello{Version: 1, Software: "rexec/test", OS: "linux", Encoding: "utf-8"},
		Exec{Argv: []string{"a", "b c"}, Env: map[string]string{"K": "V"}, Cwd: "/tmp", TimeoutMS: 5},
		Data{Stream: TypeStdout, Body: []byte("hello")},
		Data{Stream: TypeStderr, Body: bytes.Repeat([]byte{0xff}, 10)},
		StdinEOF{}, StdinAck{Count: 10}, Signal{Signal: "TERM"}, Resize{Rows: 50, Cols: 132},
		Exit{Code: 137, Signal: "KILL", SignalNumber: 9, DurationMS: 20},
		Ping{}, Pong{}, Error{Code: CodeDenied, Message: "nope"},
	}
	var buf bytes.Buffer
	c := NewConn(pipeConn{&buf, &buf})
	for _, m := range msgs {
		if err := c.Send(m); err != nil {
			t.Fatalf("Send(%#v): %v", m, err)
		}
	}
	for _, want := range msgs {
		got, err := c.Recv()
		if err != nil {
			t.Fatalf("Recv: %v (want %#v)", err, want)
		}
		if d, ok := got.(Data); ok {
			d.Body = append([]byte(nil), d.Body...)
			got = d
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip = %#v, want %#v", got, want)
		}
	}
}

func TestSendSplitsLargeData(t *testing.T) {
	var buf bytes.Buffer
	c := NewConn(pipeConn{&buf, &buf})
	body := bytes.Repeat([]byte("x"), 2*frame.MaxBodySize+5)
	if err := c.Send(Data{Stream: TypeStdout, Body: body}); err != nil {
		t.Fatal(err)
	}
	var total, frames int
	for {
		m, err := c.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		total += len(m.(Data).Body)
		frames++
	}
	if total != len(body) || frames != 3 {
		t.Fatalf("got %d bytes in %d frames, want %d in 3", total, frames, len(body))
	}
}

// TestConcurrentSend checks that frames from several goroutines never
// interleave on a real socket.
func TestConcurrentSend(t *testing.T) {
	a, b := net.Pipe()
	ca, cb := NewConn(a), NewConn(b)
	defer ca.Close()
	defer cb.Close()
	const senders, each = 4, 50
	done := make(chan error, senders)
	for i := 0; i < senders; i++ {
		go func() {
			for j := 0; j < each; j++ {
				if err := ca.Send(Data{Stream: TypeStdout, Body: bytes.Repeat([]byte{'a'}, 1000)}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for n := 0; n < senders*each; n++ {
		m, err := cb.Recv()
		if err != nil {
			t.Fatalf("frame %d: %v", n, err)
		}
		if len(m.(Data).Body) != 1000 {
			t.Fatalf("frame %d torn", n)
		}
	}
	for i := 0; i < senders; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"type":"hello","version":1}`, `{"type":"exec","argv":["a"]}`, `{"type":"Exec"}`, `{"type":"exec","command":"x","env":{"a":"b"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, hdr []byte) {
		fields, _, err := frame.DecodeHeader(hdr)
		if err != nil {
			return
		}
		m, err := Decode(frame.Frame{Fields: fields, Raw: hdr})
		if err != nil {
			return
		}
		// Whatever is accepted must re-encode and decode to the same value.
		var buf bytes.Buffer
		c := NewConn(pipeConn{&buf, &buf})
		if err := c.Send(m); err != nil {
			t.Fatalf("re-encode %#v: %v", m, err)
		}
		m2, err := c.Recv()
		if err != nil {
			t.Fatalf("re-decode of %s: %v", hdr, err)
		}
		if _, isData := m.(Data); !isData && !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed %#v to %#v", m, m2)
		}
	})
}

// nopCloser is a buffer as a stream.
type nopCloser struct{ bytes.Buffer }

func (nopCloser) Close() error { return nil }

// TestSetFlush: the flush hook runs once after each frame, data frames
// written in two pieces included, and its error is Send's.
func TestSetFlush(t *testing.T) {
	var buf nopCloser
	c := NewConn(&buf)
	flushes := 0
	c.SetFlush(func() error { flushes++; return nil })
	c.Send(Ping{})
	c.Send(Data{Stream: TypeStdout, Body: make([]byte, 100<<10)})
	if flushes != 2 {
		t.Fatalf("%d flushes for two frames", flushes)
	}
	c.SetFlush(func() error { return errors.New("flush failed") })
	if err := c.Send(Pong{}); err == nil || err.Error() != "flush failed" {
		t.Fatalf("Send = %v, want the flush's error", err)
	}
}
