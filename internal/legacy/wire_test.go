package legacy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os/exec"
	"strconv"
	"testing"

	"github.com/rexec-dev/rexec/internal/rexectest"
)

// frame builds a reply from a raw header and body.
func frame(header, body string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(header)))
	return append(append(b, header...), body...)
}

// prefixOnly is a reply that is just a length prefix.
func prefixOnly(n int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(n)) }

var replyTests = []struct {
	name  string
	in    []byte
	body  string
	want  error
	total int64
}{
	{"ours", lessonReplyBytes("hi\n"), "hi\n", nil, 3},
	{"python layout", frame(`{"filename": "a.txt", "md5": "asdfasdf123123x1", "total_size": 3}`, "hi\n"), "hi\n", nil, 3},
	{"extra fields", frame(`{"total_size":2,"exit":0}`, "ok"), "ok", nil, 2},
	{"empty body", frame(`{"total_size":0}`, ""), "", nil, 0},
	{"zero prefix", prefixOnly(0), "", ErrBadHeader, 0},
	{"negative prefix", prefixOnly(-1), "", ErrBadHeader, 0},
	{"huge prefix", prefixOnly(1<<31 - 1), "", ErrHeaderTooLarge, 0},
	{"prefix over limit", prefixOnly(MaxHeaderSize + 1), "", ErrHeaderTooLarge, 0},
	{"not json", frame(`{total_size: 1}`, "x"), "", ErrBadHeader, 0},
	{"json array", frame(`[1]`, "x"), "", ErrBadHeader, 0},
	{"trailing garbage", frame(`{"total_size":1} x`, "x"), "", ErrBadHeader, 0},
	{"no total_size", frame(`{"md5":"x"}`, ""), "", ErrBadHeader, 0},
	{"total_size string", frame(`{"total_size":"1"}`, "x"), "", ErrBadHeader, 0},
	{"total_size float", frame(`{"total_size":1.0}`, "x"), "", ErrBadHeader, 0},
	{"total_size null", frame(`{"total_size":null}`, ""), "", ErrBadHeader, 0},
	{"total_size negative", frame(`{"total_size":-1}`, ""), "", ErrBadHeader, 0},
	{"total_size huge", frame(`{"total_size":99999999999999999999}`, ""), "", ErrBadHeader, 0},
	{"total_size over limit", frame(`{"total_size":`+strconv.Itoa(MaxBodySize+1)+`}`, ""), "", ErrBodyTooLarge, 0},
	{"md5 not a string", frame(`{"md5":5,"total_size":0}`, ""), "", ErrBadHeader, 0},
	{"exit status of ours", frame(`{"filename": "a.txt", "md5": "x", "total_size": 1, "exit_code": 137, "signal": "KILL", "encoding": "gbk"}`, "x"), "x", nil, 1},
	{"exit_code string", frame(`{"total_size":0,"exit_code":"3"}`, ""), "", ErrBadHeader, 0},
	{"exit_code float", frame(`{"total_size":0,"exit_code":3.0}`, ""), "", ErrBadHeader, 0},
	{"exit_code null", frame(`{"total_size":0,"exit_code":null}`, ""), "", ErrBadHeader, 0},
	{"exit_code over 32 bits", frame(`{"total_size":0,"exit_code":4294967296}`, ""), "", ErrBadHeader, 0},
	{"signal not a string", frame(`{"total_size":0,"signal":9}`, ""), "", ErrBadHeader, 0},
	{"encoding not a string", frame(`{"total_size":0,"encoding":true}`, ""), "", ErrBadHeader, 0},
	{"short prefix", []byte{3, 0}, "", ErrServerClosed, 0},
	{"short header", frame(`{"total_size":0}`, "")[:9], "", ErrServerClosed, 0},
	{"short body", frame(`{"total_size":10}`, "12345"), "", ErrServerClosed, 0},
}

func TestReadReply(t *testing.T) {
	for _, tt := range replyTests {
		t.Run(tt.name, func(t *testing.T) {
			var body bytes.Buffer
			rep, err := readReply(bytes.NewReader(tt.in), &body, nil)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("readReply = %v, want %v", err, tt.want)
			}
			if err == nil && (body.String() != tt.body || rep.Size != tt.total || rep.MD5 != md5hex(body.Bytes())) {
				t.Errorf("readReply body %q size %d md5 %s, want %q size %d", body.String(), rep.Size, rep.MD5, tt.body, tt.total)
			}
		})
	}
}

// TestReadReplyLeavesNextReply: replies read back to back from one
// stream stay apart, as on a connection carrying several commands.
func TestReadReplyLeavesNextReply(t *testing.T) {
	r := bytes.NewReader(append(lessonReplyBytes("one"), lessonReplyBytes("two")...))
	for _, want := range []string{"one", "two"} {
		var body bytes.Buffer
		if _, err := readReply(r, &body, nil); err != nil || body.String() != want {
			t.Errorf("readReply = %q, %v; want %q", body.String(), err, want)
		}
	}
}

// TestEncodeHeaderMatchesPython: our prefix and header are byte for byte
// what the lesson's server would send (struct.pack + json.dumps), with
// and without the fields ours adds.
func TestEncodeHeaderMatchesPython(t *testing.T) {
	rexectest.SeedDir(t) // python3 must be there
	const sum = "0123456789abcdef0123456789abcdef"
	py := `import json,struct,sys
d={"filename":"a.txt","md5":sys.argv[1],"total_size":int(sys.argv[2])}
if sys.argv[3]: d["exit_code"]=int(sys.argv[3])
if sys.argv[4]: d["signal"]=sys.argv[4]
if sys.argv[5]: d["encoding"]=sys.argv[5]
h=json.dumps(d).encode(); sys.stdout.buffer.write(struct.pack("i",len(h))+h)`
	tests := []struct {
		h                      Header
		code, signal, encoding string
	}{
		{Header{MD5: sum, TotalSize: 1234567}, "", "", ""},
		{Header{MD5: sum, TotalSize: 0, ExitCode: new(0)}, "0", "", ""},
		{Header{MD5: sum, TotalSize: 5, ExitCode: new(137), Signal: "KILL", Encoding: "gbk"}, "137", "KILL", "gbk"},
	}
	for _, tt := range tests {
		want, err := exec.Command("python3", "-c", py, sum, strconv.FormatInt(tt.h.TotalSize, 10), tt.code, tt.signal, tt.encoding).Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := encodeHeader(tt.h); !bytes.Equal(got, want) {
			t.Errorf("encodeHeader(%+v) = %q, want %q", tt.h, got, want)
		}
	}
}

// TestParseHeaderExitStatus: the fields ours adds come back as sent, and
// a header without them (the lesson's) has no exit code.
func TestParseHeaderExitStatus(t *testing.T) {
	tests := []struct {
		raw            string
		code           *int
		signal, encode string
	}{
		{`{"filename": "a.txt", "md5": "asdfasdf123123x1", "total_size": 3}`, nil, "", ""},
		{`{"total_size": 0, "exit_code": 3}`, new(3), "", ""},
		{`{"total_size": 0, "exit_code": -1}`, new(-1), "", ""},
		{`{"total_size": 0, "exit_code": 137, "signal": "KILL"}`, new(137), "KILL", ""},
		{`{"total_size": 0, "exit_code": 0, "encoding": "gbk"}`, new(0), "", "gbk"},
	}
	for _, tt := range tests {
		h, err := parseHeader([]byte(tt.raw))
		if err != nil || (h.ExitCode == nil) != (tt.code == nil) || h.ExitCode != nil && *h.ExitCode != *tt.code ||
			h.Signal != tt.signal || h.Encoding != tt.encode {
			t.Errorf("parseHeader(%s) = %+v, %v", tt.raw, h, err)
		}
	}
}

func FuzzReadReply(f *testing.F) {
	for _, tt := range replyTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		var body bytes.Buffer
		rep, err := readReply(r, &body, nil)
		if err != nil {
			return
		}
		if rep.Size != rep.Header.TotalSize || int64(body.Len()) != rep.Size || rep.MD5 != md5hex(body.Bytes()) {
			t.Fatalf("accepted reply: size %d, total_size %d, body %d, md5 %s", rep.Size, rep.Header.TotalSize, body.Len(), rep.MD5)
		}
		if rep.Size > MaxBodySize || len(in)-r.Len() > prefixSize+MaxHeaderSize+int(rep.Size) {
			t.Fatalf("read %d bytes for a %d-byte body", len(in)-r.Len(), rep.Size)
		}
		again, err := readReply(bytes.NewReader(append(encodeHeader(Header{MD5: rep.MD5, TotalSize: rep.Size, ExitCode: rep.Header.ExitCode, Signal: rep.Header.Signal, Encoding: rep.Header.Encoding}), body.Bytes()...)), &bytes.Buffer{}, nil)
		if err != nil || again.MD5 != rep.MD5 || again.Header.MD5 != rep.MD5 {
			t.Fatalf("re-encoded reply: %v, %+v", err, again)
		}
	})
}
