package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/protocol/frame"
	"github.com/rexec-dev/rexec/internal/transfer"
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
// how Run must end: "" for a success, or the outcome of its error.
var hostileStreams = []struct {
	name   string
	stream []byte
	want   outcome.Outcome
}{
	{"exit", exit0, ""},
	{"output then exit", cat(fr(`{"type":"stdout","size":3}`, "hi\n"), fr(`{"type":"stderr","size":2}`, "e\n"),
		fr(`{"type":"exit","code":7,"duration_ms":2}`, "")), ""},
	{"signal exit", fr(`{"type":"exit","code":143,"signal":"TERM","signal_number":15,"duration_ms":3}`, ""), ""},
	{"timed out", fr(`{"type":"exit","code":124,"timed_out":true,"duration_ms":3}`, ""), ""},
	{"ping ack pong", cat(fr(`{"type":"ping"}`, ""), fr(`{"type":"stdin_ack","count":5}`, ""), fr(`{"type":"pong"}`, ""), exit0), ""},
	{"empty data frames", cat(fr(`{"type":"stdout","size":0}`, ""), fr(`{"type":"stdout"}`, ""), exit0), ""},
	{"exit then garbage", cat(exit0, []byte("garbage")), ""},
	{"nothing", nil, outcome.ConnectionLost},
	{"output, no exit", fr(`{"type":"stdout","size":1}`, "x"), outcome.ConnectionLost},
	{"truncated exit", exit0[:len(exit0)-1], outcome.ConnectionLost},
	{"truncated body", fr(`{"type":"stdout","size":9}`, "abc")[:4+len(`{"type":"stdout","size":9}`)+3], outcome.ConnectionLost},
	{"error denied", fr(`{"type":"error","code":"denied","message":"no-pty"}`, ""), outcome.Denied},
	{"error unauthorized", fr(`{"type":"error","code":"unauthorized"}`, ""), outcome.AuthFailed},
	{"error unavailable", fr(`{"type":"error","code":"unavailable"}`, ""), outcome.ConnectionLost},
	{"error busy", fr(`{"type":"error","code":"busy"}`, ""), outcome.ProtocolError},
	{"error unknown code", fr(`{"type":"error","code":"what"}`, ""), outcome.ProtocolError},
	{"hello again", cat(hello1, exit0), outcome.ProtocolError},
	{"exec from the server", fr(`{"type":"exec","command":"rm -rf /"}`, ""), outcome.ProtocolError},
	{"stdin from the server", fr(`{"type":"stdin","size":1}`, "x"), outcome.ProtocolError},
	{"unknown type", fr(`{"type":"exit2"}`, ""), outcome.ProtocolError},
	{"exit with a body", fr(`{"type":"exit","code":0,"size":1}`, "x"), outcome.ProtocolError},
	{"exit with null", fr(`{"type":"exit","code":null}`, ""), outcome.ProtocolError},
	{"exit code as string", fr(`{"type":"exit","code":"0"}`, ""), outcome.ProtocolError},
	{"exit Code", fr(`{"type":"exit","Code":0}`, ""), outcome.ProtocolError},
	{"duplicate code", fr(`{"type":"exit","code":0,"code":1}`, ""), outcome.ProtocolError},
	{"header too large", []byte{0, 1, 0, 1}, outcome.ProtocolError},
	{"body too large", fr(`{"type":"stdout","size":1048577}`, ""), outcome.ProtocolError},
	{"not json", fr(`HTTP/1.1 200 OK`, ""), outcome.ProtocolError},
}

// expectation is what Run must do with a stream, worked out by decoding
// it independently of run.go.
type expectation struct {
	exit           *protocol.Exit  // nil: Run fails
	outcome        outcome.Outcome // Run's error's outcome when exit is nil
	stdout, stderr []byte
}

func expect(stream []byte) expectation {
	var e expectation
	r := frame.NewReader(bytes.NewReader(stream))
	for {
		f, err := r.Next()
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, frame.ErrTruncated):
			e.outcome = outcome.ConnectionLost
			return e
		case err != nil:
			e.outcome = outcome.ProtocolError
			return e
		}
		m, err := protocol.Decode(f)
		if err != nil {
			e.outcome = outcome.ProtocolError
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
				e.outcome = outcome.ProtocolError
				return e
			}
		case protocol.StdinAck, protocol.Ping, protocol.Pong:
		case protocol.Exit:
			e.exit = &m
			return e
		case protocol.Error:
			e.outcome = map[string]outcome.Outcome{protocol.CodeUnauthorized: outcome.AuthFailed, protocol.CodeDenied: outcome.Denied,
				protocol.CodeUnavailable: outcome.ConnectionLost}[m.Code]
			if e.outcome == "" {
				e.outcome = outcome.ProtocolError
			}
			return e
		default:
			e.outcome = outcome.ProtocolError
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

// against runs fn on a Conn whose server sends stream, reading (and
// dropping) whatever the client sends, then ending its direction. It
// fails t if fn does not return in time.
func against(t testing.TB, stream []byte, fn func(c *Conn)) {
	t.Helper()
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
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(c)
	}()
	select {
	case <-done:
	case <-time.After(runBound):
		c.Close()
		<-done
		t.Fatalf("the client did not return within %v of the server's end of stream", runBound)
	}
	c.Close()
	wg.Wait()
}

// entryFrame encodes an entry message.
func entryFrame(e protocol.Entry) []byte {
	hdr, err := json.Marshal(struct {
		Type string `json:"type"`
		protocol.Entry
	}{protocol.TypeEntry, e})
	if err != nil {
		panic("bug: test entry: " + err.Error())
	}
	return fr(string(hdr), "")
}

// fileFrames is a whole file of a get's answer: entry, data, file_end.
func fileFrames(name, content string) []byte {
	return cat(entryFrame(protocol.Entry{Name: name, Kind: protocol.KindFile, Length: int64(len(content)), Mode: 0o644}),
		fr(fmt.Sprintf(`{"type":"file_data","size":%d}`, len(content)), content),
		fr(`{"type":"file_end","hash":"blake3","digest":"`+transfer.Digest([]byte(content))+`"}`, ""))
}

func dirFrame(name string) []byte {
	return entryFrame(protocol.Entry{Name: name, Kind: protocol.KindDir, Mode: 0o755})
}

func linkFrame(name, target string) []byte {
	return entryFrame(protocol.Entry{Name: name, Kind: protocol.KindSymlink, Target: target})
}

var getEnd = fr(`{"type":"get_end"}`, "")

// snapshot lists everything under base: "path/" for a directory,
// "path->target" for a link, "path=content" for a file.
func snapshot(t testing.TB, base string) []string {
	t.Helper()
	var got []string
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == base {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			got = append(got, rel+"->"+target)
		case d.IsDir():
			got = append(got, rel+"/")
		default:
			b, _ := os.ReadFile(p)
			got = append(got, rel+"="+string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestGetHostileServer answers downloads with what a hostile server
// might send: names other than the one asked for, "..", absolute names,
// links and entries through them, entries not asked for, control
// characters. Get must fail as a protocol violation at the first entry
// that is not part of what was asked, with nothing written for it or
// after it, nothing outside dst/top ever, and no raw control character
// in its error; an honest answer lands exactly where asked.
func TestGetHostileServer(t *testing.T) {
	tests := []struct {
		name   string
		tree   bool
		stream func(base string) []byte // base: the test's directory, which holds dst
		want   []string                 // what appears under dst/top, as snapshot lists it
		fail   bool
	}{
		{"file", false, func(string) []byte { return fileFrames(".", "asked for") }, []string{"=asked for"}, false},
		{"file under another name", false, func(string) []byte { return fileFrames(".bashrc", "planted") }, nil, true},
		{"file through dot-dot", false, func(string) []byte { return fileFrames("../.bashrc", "planted") }, nil, true},
		{"file by an absolute name", false, func(b string) []byte { return fileFrames(b+"/.bashrc", "planted") }, nil, true},
		{"file then another", false, func(string) []byte {
			return cat(fileFrames(".", "asked for"), fileFrames("extra", "x"))
		}, []string{"=asked for"}, true},
		{"file twice", false, func(string) []byte {
			return cat(fileFrames(".", "asked for"), fileFrames(".", "again"))
		}, []string{"=asked for"}, true},
		{"file as a link", false, func(string) []byte {
			return cat(linkFrame(".", "../.bashrc"), fileFrames(".", "through"))
		}, nil, true},
		{"file as a tree", false, func(string) []byte { return cat(fileFrames("a", "x"), dirFrame(".")) }, nil, true},
		{"file with ESC in its name", false, func(string) []byte {
			return fileFrames("\x1b]0;owned\x07\x1b[2J", "x")
		}, nil, true},
		{"tree", true, func(string) []byte {
			return cat(fileFrames("a/f", "f"), linkFrame("a/l", "../../.bashrc"), dirFrame("a"),
				fileFrames("\x1b[31mred", "r"), dirFrame("."))
		}, []string{"/", "/\x1b[31mred=r", "/a/", "/a/f=f", "/a/l->../../.bashrc"}, false},
		{"tree with dot-dot", true, func(string) []byte {
			return cat(fileFrames("ok", "1"), fileFrames("../.bashrc", "planted"), fileFrames("after", "2"))
		}, []string{"/", "/ok=1"}, true},
		{"tree with dot-dot inside", true, func(string) []byte { return fileFrames("a/../../.bashrc", "planted") }, nil, true},
		{"tree with an absolute name", true, func(b string) []byte { return fileFrames(b+"/.bashrc", "planted") }, nil, true},
		{"link then a file through it", true, func(b string) []byte {
			return cat(linkFrame("l", b), fileFrames("l/.bashrc", "planted"), fileFrames("after", "2"))
		}, []string{"/", "/l->BASE"}, true},
		{"link then a directory through it", true, func(string) []byte {
			return cat(linkFrame("l", "../../outside"), dirFrame("l/d"))
		}, []string{"/", "/l->../../outside"}, true},
		{"link then a file over it", true, func(b string) []byte {
			return cat(linkFrame("l", b+"/.bashrc"), fileFrames("l", "over"))
		}, []string{"/", "/l->BASE/.bashrc"}, true},
		{"entry after the root", true, func(string) []byte { return cat(dirFrame("."), fileFrames("late", "x")) }, []string{"/"}, true},
		{"second root", true, func(string) []byte { return cat(dirFrame("."), dirFrame(".")) }, []string{"/"}, true},
		{"root as a link", true, func(b string) []byte { return cat(linkFrame(".", b), fileFrames("x", "through")) }, nil, true},
		{"ESC in a refused name", true, func(string) []byte {
			return fileFrames("\x1b]0;owned\x07/../../.bashrc", "planted")
		}, nil, true},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			base := t.TempDir()
			dst := filepath.Join(base, "dst")
			for _, d := range []string{dst, filepath.Join(base, "outside")} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(base, ".bashrc"), []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
			want := snapshot(t, base)
			for _, w := range tt.want {
				want = append(want, "dst/top"+strings.ReplaceAll(w, "BASE", base))
			}
			var err error
			var failures []error
			o := CopyOptions{Recursive: tt.tree, Done: func(_, _ string, _ transfer.Result, err error) {
				if err != nil {
					failures = append(failures, err)
				}
			}}
			stream := cat(tt.stream(base), getEnd)
			against(t, stream, func(c *Conn) { _, err = c.Get(context.Background(), "top", dst, "top", o) })
			switch {
			case tt.fail && OutcomeOf(err) != outcome.ProtocolError:
				t.Errorf("Get = %v (outcome %s), want a protocol violation", err, OutcomeOf(err))
			case !tt.fail && (err != nil || len(failures) > 0):
				t.Errorf("Get = %v, failures %v; want success", err, failures)
			case err != nil && strings.ContainsAny(err.Error(), "\x1b\x07"):
				t.Errorf("Get's error %q holds a raw control character", err)
			}
			got := snapshot(t, base)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("after Get the directory holds\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// TestStatHostileName: a stat answer naming anything but the path's own
// last component is a protocol violation, and the connection is closed.
func TestStatHostileName(t *testing.T) {
	tests := []struct {
		path, answer string
		ok           bool
	}{
		{"/tmp/report.txt", `{"type":"stat_result","name":"report.txt","kind":"file","length":1}`, true},
		{"", `{"type":"stat_result","name":"root","kind":"dir"}`, true},
		{"/tmp/report.txt", `{"type":"stat_result","name":".bashrc","kind":"file","length":1}`, false},
		{"proj", `{"type":"stat_result","name":".ssh","kind":"dir"}`, false},
		{"proj", `{"type":"stat_result","name":"\u001b]0;owned\u0007","kind":"dir"}`, false},
		{"proj", `{"type":"stat_result","kind":"dir"}`, false},
	}
	for _, tt := range tests {
		var err error
		var c *Conn
		against(t, fr(tt.answer, ""), func(conn *Conn) { c = conn; _, err = conn.Stat(context.Background(), tt.path) })
		switch {
		case tt.ok && err != nil:
			t.Errorf("Stat(%q) answered %s = %v, want success", tt.path, tt.answer, err)
		case !tt.ok && OutcomeOf(err) != outcome.ProtocolError:
			t.Errorf("Stat(%q) answered %s = %v, want a protocol violation", tt.path, tt.answer, err)
		case !tt.ok && strings.ContainsAny(err.Error(), "\x1b\x07"):
			t.Errorf("Stat's error %q holds a raw control character", err)
		case !tt.ok && c.pc.Send(protocol.Ping{}) == nil:
			t.Errorf("Stat(%q) answered %s: the connection stayed open", tt.path, tt.answer)
		}
	}
}

// TestGetTreeSize: a tree_size is taken only as the first answer to a get
// that asked for a count (CopyOptions.Total); anywhere else, or unasked,
// it is a protocol violation.
func TestGetTreeSize(t *testing.T) {
	size := fr(`{"type":"tree_size","files":2,"bytes":3}`, "")
	tree := cat(fileFrames("a", "ab"), fileFrames("b", "c"), dirFrame("."))
	for _, tt := range []struct {
		name   string
		total  bool
		stream []byte
		ok     bool
	}{
		{"counted", true, cat(size, tree), true},
		{"no count sent", true, tree, true},
		{"count after an entry", true, cat(fileFrames("a", "ab"), size, fileFrames("b", "c"), dirFrame(".")), false},
		{"count not asked for", false, cat(size, tree), false},
		{"two counts", true, cat(size, size, tree), false},
	} {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			dst := t.TempDir()
			var files int
			var bytes int64
			o := CopyOptions{Recursive: true}
			if tt.total {
				o.Total = func(f int, b int64) { files, bytes = f, b }
			}
			var err error
			against(t, cat(tt.stream, getEnd), func(c *Conn) { _, err = c.Get(context.Background(), "top", dst, "top", o) })
			switch {
			case tt.ok && err != nil:
				t.Errorf("Get = %v, want success", err)
			case !tt.ok && OutcomeOf(err) != outcome.ProtocolError:
				t.Errorf("Get = %v (outcome %s), want a protocol violation", err, OutcomeOf(err))
			case tt.ok && bytes > 0 && (files != 2 || bytes != 3):
				t.Errorf("Total(%d, %d), want (2, 3)", files, bytes)
			case tt.name == "counted" && files != 2:
				t.Errorf("Total was not called with the count")
			}
		})
	}
}
