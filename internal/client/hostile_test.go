package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/protocol/frame"
)

// runBound is how long Run may take once the server has ended its stream:
// everything is in memory, so anything near it is a hang.
const runBound = 10 * time.Second

// fr encodes one frame, or panics: the tests' frames are within limits.
func fr(hdr, body string) []byte {
	b, err := frame.Append(nil, []byte(hdr), []byte(body))
	if err != nil {
		panic("bug: test frame: " + err.Error())
	}
	return b
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

var (
	exit0  = fr(`{"type":"exit","code":0,"duration_ms":1}`, "")
	hello1 = fr(`{"type":"hello","version":1}`, "")
)

// hostileStreams are what a server may send after the client's exec, with
// how Run must end: "" for a success, or the Outcome of its error.
var hostileStreams = []struct {
	name   string
	stream []byte
	want   Outcome
}{
	{"exit", exit0, ""},
	{"output then exit", cat(fr(`{"type":"stdout","size":3}`, "hi\n"), fr(`{"type":"stderr","size":2}`, "e\n"),
		fr(`{"type":"exit","code":7,"duration_ms":2}`, "")), ""},
	{"signal exit", fr(`{"type":"exit","code":143,"signal":"TERM","signal_number":15,"duration_ms":3}`, ""), ""},
	{"timed out", fr(`{"type":"exit","code":124,"timed_out":true,"duration_ms":3}`, ""), ""},
	{"ping ack pong", cat(fr(`{"type":"ping"}`, ""), fr(`{"type":"stdin_ack","count":5}`, ""), fr(`{"type":"pong"}`, ""), exit0), ""},
	{"empty data frames", cat(fr(`{"type":"stdout","size":0}`, ""), fr(`{"type":"stdout"}`, ""), exit0), ""},
	{"exit then garbage", cat(exit0, []byte("garbage")), ""},
	{"nothing", nil, ConnectionLost},
	{"output, no exit", fr(`{"type":"stdout","size":1}`, "x"), ConnectionLost},
	{"truncated exit", exit0[:len(exit0)-1], ConnectionLost},
	{"truncated body", fr(`{"type":"stdout","size":9}`, "abc")[:4+len(`{"type":"stdout","size":9}`)+3], ConnectionLost},
	{"error denied", fr(`{"type":"error","code":"denied","message":"no-pty"}`, ""), Denied},
	{"error unauthorized", fr(`{"type":"error","code":"unauthorized"}`, ""), AuthFailed},
	{"error unavailable", fr(`{"type":"error","code":"unavailable"}`, ""), ConnectionLost},
	{"error busy", fr(`{"type":"error","code":"busy"}`, ""), ProtocolFailed},
	{"error unknown code", fr(`{"type":"error","code":"what"}`, ""), ProtocolFailed},
	{"hello again", cat(hello1, exit0), ProtocolFailed},
	{"exec from the server", fr(`{"type":"exec","command":"rm -rf /"}`, ""), ProtocolFailed},
	{"stdin from the server", fr(`{"type":"stdin","size":1}`, "x"), ProtocolFailed},
	{"unknown type", fr(`{"type":"exit2"}`, ""), ProtocolFailed},
	{"exit with a body", fr(`{"type":"exit","code":0,"size":1}`, "x"), ProtocolFailed},
	{"exit with null", fr(`{"type":"exit","code":null}`, ""), ProtocolFailed},
	{"exit code as string", fr(`{"type":"exit","code":"0"}`, ""), ProtocolFailed},
	{"exit Code", fr(`{"type":"exit","Code":0}`, ""), ProtocolFailed},
	{"duplicate code", fr(`{"type":"exit","code":0,"code":1}`, ""), ProtocolFailed},
	{"header too large", []byte{0, 1, 0, 1}, ProtocolFailed},
	{"body too large", fr(`{"type":"stdout","size":1048577}`, ""), ProtocolFailed},
	{"not json", fr(`HTTP/1.1 200 OK`, ""), ProtocolFailed},
}

// expectation is what Run must do with a stream, worked out by decoding
// it independently of run.go.
type expectation struct {
	exit           *protocol.Exit // nil: Run fails
	outcome        Outcome        // Run's error's outcome when exit is nil
	stdout, stderr []byte
}

func expect(stream []byte) expectation {
	var e expectation
	r := frame.NewReader(bytes.NewReader(stream))
	for {
		f, err := r.Next()
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, frame.ErrTruncated):
			e.outcome = ConnectionLost
			return e
		case err != nil:
			e.outcome = ProtocolFailed
			return e
		}
		m, err := protocol.Decode(f)
		if err != nil {
			e.outcome = ProtocolFailed
			return e
		}
		switch m := m.(type) {
		case protocol.Data:
			switch m.Stream {
			case protocol.TypeStdout:
				e.stdout = append(e.stdout, m.Body...)
			case protocol.TypeStderr:
				e.stderr = append(e.stderr, m.Body...)
			default:
				e.outcome = ProtocolFailed
				return e
			}
		case protocol.StdinAck, protocol.Ping, protocol.Pong:
		case protocol.Exit:
			e.exit = &m
			return e
		case protocol.Error:
			e.outcome = map[string]Outcome{protocol.CodeUnauthorized: AuthFailed, protocol.CodeDenied: Denied,
				protocol.CodeUnavailable: ConnectionLost}[m.Code]
			if e.outcome == "" {
				e.outcome = ProtocolFailed
			}
			return e
		default:
			e.outcome = ProtocolFailed
			return e
		}
	}
}

// runAgainst runs a command on a Conn whose server sends stream after the
// exec and then ends its direction (reading whatever the client sends
// until the client closes). It fails t if Run does not return in time.
func runAgainst(t testing.TB, stream []byte) (res Result, stdout, stderr []byte, err error) {
	toClient, serverOut := io.Pipe()
	serverIn, fromClient := io.Pipe()
	c := newTestConn(toClient, fromClient)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _, _ = io.Copy(io.Discard, serverIn) }()
	go func() {
		defer wg.Done()
		_, _ = serverOut.Write(stream) // returns early once the client closes
		serverOut.Close()
	}()
	var out, errOut bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err = c.Run(context.Background(), protocol.Exec{Command: "true"}, IO{Stdout: &out, Stderr: &errOut})
	}()
	select {
	case <-done:
	case <-time.After(runBound):
		c.Close()
		t.Fatalf("Run did not return within %v of the server's end of stream %q", runBound, stream)
	}
	c.Close()
	wg.Wait()
	return res, out.Bytes(), errOut.Bytes(), err
}

// checkRun holds Run's result on stream to expect's.
func checkRun(t testing.TB, stream []byte) expectation {
	want := expect(stream)
	res, stdout, stderr, err := runAgainst(t, stream)
	quoted := stream
	if len(quoted) > 200 {
		quoted = quoted[:200]
	}
	switch {
	case want.exit != nil && err != nil:
		t.Fatalf("stream %q: Run = %v, want the exit %+v", quoted, err, *want.exit)
	case want.exit == nil && err == nil:
		t.Fatalf("stream %q: Run succeeded with %+v without an exit message; want %s", quoted, res.Exit, want.outcome)
	case want.exit != nil && !reflect.DeepEqual(res.Exit, *want.exit):
		t.Fatalf("stream %q: Run exit = %+v, want %+v", quoted, res.Exit, *want.exit)
	case err != nil:
		var e *Error
		if !errors.As(err, &e) || e.Outcome != want.outcome {
			t.Fatalf("stream %q: Run error = %v (outcome %s), want an *Error with outcome %s", quoted, err, OutcomeOf(err), want.outcome)
		}
	}
	if !bytes.Equal(stdout, want.stdout) || !bytes.Equal(stderr, want.stderr) {
		t.Fatalf("stream %q: output %q / %q, want %q / %q", quoted, stdout, stderr, want.stdout, want.stderr)
	}
	return want
}

// TestRunHostileServer runs a command against servers that send well- and
// ill-formed streams: Run reports exactly the exit it decoded, or fails
// with the right outcome, and writes exactly the output that preceded.
func TestRunHostileServer(t *testing.T) {
	for _, tt := range hostileStreams {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			got := checkRun(t, tt.stream)
			if got.outcome != tt.want || (tt.want == "") != (got.exit != nil) {
				t.Errorf("decoding the stream gives outcome %q (exit %v), the table says %q", got.outcome, got.exit, tt.want)
			}
		})
	}
}

// FuzzClientRun plays a hostile server: arbitrary bytes after the exec,
// then the end of the stream. Run must never panic, must return, must
// never report success without having decoded a real exit message (the
// one the stream holds, with exactly the output before it), and must fail
// with the outcome the stream calls for. Seeds: hostileStreams.
func FuzzClientRun(f *testing.F) {
	for _, tt := range hostileStreams {
		f.Add(tt.stream)
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		checkRun(t, stream)
	})
}
