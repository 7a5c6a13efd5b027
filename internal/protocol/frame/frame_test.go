package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var update = flag.Bool("update", false, "rewrite golden frames in testdata/")

// rawFrame builds a frame from a header string and body without any checks,
// so tests can send exactly what a hostile peer would.
func rawFrame(hdrLen uint32, hdr string, body string) []byte {
	b := binary.BigEndian.AppendUint32(nil, hdrLen)
	return append(append(b, hdr...), body...)
}

func frameOf(hdr, body string) []byte { return rawFrame(uint32(len(hdr)), hdr, body) }

func TestNext(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		wantBody string
		wantErr  error // nil: success
	}{
		{"minimal", frameOf(`{"type":"ping"}`, ""), "", nil},
		{"body", frameOf(`{"type":"stdout","size":5}`, "hello"), "hello", nil},
		{"size zero explicit", frameOf(`{"type":"x","size":0}`, ""), "", nil},
		{"nested ok", frameOf(`{"type":"exec","argv":["a","b"],"env":{"A":"1","B":"2"}}`, ""), "", nil},
		{"unicode", frameOf(`{"type":"x","s":"日本"}`, ""), "", nil},
		{"clean eof", nil, "", io.EOF},
		{"short prefix", []byte{0, 0}, "", ErrTruncated},
		{"header 0xFFFFFFFF", rawFrame(0xFFFFFFFF, "", ""), "", ErrHeaderTooLarge},
		{"header just over", rawFrame(MaxHeaderSize+1, "", ""), "", ErrHeaderTooLarge},
		{"empty header", rawFrame(0, "", ""), "", ErrBadHeader},
		{"header cut", rawFrame(20, `{"type"`, ""), "", ErrTruncated},
		{"not json", frameOf(`GET / HTTP/1.1`, ""), "", ErrBadHeader},
		{"array", frameOf(`["type"]`, ""), "", ErrBadHeader},
		{"dup key", frameOf(`{"type":"a","type":"b"}`, ""), "", ErrBadHeader},
		{"dup nested key", frameOf(`{"type":"a","env":{"X":"1","X":"2"}}`, ""), "", ErrBadHeader},
		{"trailing object", frameOf(`{"type":"a"}{}`, ""), "", ErrBadHeader},
		{"trailing space", frameOf(`{"type":"a"} `, ""), "", ErrBadHeader},
		{"leading space", frameOf(` {"type":"a"}`, ""), "", ErrBadHeader},
		{"invalid utf8", frameOf("{\"type\":\"\xff\"}", ""), "", ErrBadHeader},
		{"size negative", frameOf(`{"type":"a","size":-1}`, ""), "", ErrBadHeader},
		{"size float", frameOf(`{"type":"a","size":1.5}`, ""), "", ErrBadHeader},
		{"size string", frameOf(`{"type":"a","size":"5"}`, ""), "", ErrBadHeader},
		{"size null", frameOf(`{"type":"a","size":null}`, ""), "", ErrBadHeader},
		{"size huge", frameOf(`{"type":"a","size":99999999999999999999}`, ""), "", ErrBadHeader},
		{"size over limit", frameOf(`{"type":"a","size":1048577}`, ""), "", ErrBodyTooLarge},
		{"body short", frameOf(`{"type":"a","size":10}`, "abc"), "", ErrTruncated},
		{"too deep", frameOf(`{"a":[[[[[[[[[[1]]]]]]]]]]}`, ""), "", ErrBadHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewReader(bytes.NewReader(tt.in)).Next()
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Next(%q) error = %v, want %v", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Next(%q) error = %v, want nil", tt.in, err)
			}
			if string(f.Body) != tt.wantBody {
				t.Fatalf("Next(%q) body = %q, want %q", tt.in, f.Body, tt.wantBody)
			}
		})
	}
}

func TestAppendRoundTrip(t *testing.T) {
	var stream []byte
	bodies := []string{"", "x", strings.Repeat("z", MaxBodySize)}
	for _, b := range bodies {
		hdr := []byte(`{"type":"stdout","size":` + strconv.Itoa(len(b)) + `}`)
		var err error
		if stream, err = Append(stream, hdr, []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(bytes.NewReader(stream))
	for i, want := range bodies {
		f, err := r.Next()
		if err != nil || string(f.Body) != want {
			t.Fatalf("frame %d: len(body) = %d, err %v; want len %d", i, len(f.Body), err, len(want))
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after last frame: err = %v, want io.EOF", err)
	}
}

func TestAppendLimits(t *testing.T) {
	if _, err := Append(nil, make([]byte, MaxHeaderSize+1), nil); !errors.Is(err, ErrHeaderTooLarge) {
		t.Errorf("Append(big header) = %v, want ErrHeaderTooLarge", err)
	}
	if _, err := Append(nil, []byte(`{}`), make([]byte, MaxBodySize+1)); !errors.Is(err, ErrBodyTooLarge) {
		t.Errorf("Append(big body) = %v, want ErrBodyTooLarge", err)
	}
}

// TestNoAllocationBeyondLimits sends a prefix announcing the maximum header
// and nothing more: the reader must fail on the short read having allocated
// no more than the limit (checked via the reader's buffer capacity).
func TestNoAllocationBeyondLimits(t *testing.T) {
	r := NewReader(bytes.NewReader(rawFrame(0xFFFFFFFF, "", "")))
	if _, err := r.Next(); !errors.Is(err, ErrHeaderTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if cap(r.hdr) != 0 || cap(r.body) != 0 {
		t.Fatalf("buffers allocated after refusal: hdr %d body %d", cap(r.hdr), cap(r.body))
	}
}

// TestGolden checks the byte-exact encoding of reference frames kept in
// testdata/, which docs/PROTOCOL.md's examples are taken from.
func TestGolden(t *testing.T) {
	cases := map[string]struct{ hdr, body string }{
		"hello.frame":  {`{"type":"hello","version":1,"software":"rexec/1.0","os":"linux","encoding":"utf-8"}`, ""},
		"exec.frame":   {`{"type":"exec","argv":["printf","%s\n","a b"],"env":{"LANG":"C"}}`, ""},
		"stdout.frame": {`{"type":"stdout","size":3}`, "hi\n"},
		"exit.frame":   {`{"type":"exit","code":7,"duration_ms":12}`, ""},
	}
	for name, c := range cases {
		got, err := Append(nil, []byte(c.hdr), []byte(c.body))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("reading golden %s: %v (run go test -update)", path, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: encoding = %x, want %x", name, got, want)
		}
		f, err := NewReader(bytes.NewReader(want)).Next()
		if err != nil || string(f.Raw) != c.hdr || string(f.Body) != c.body {
			t.Errorf("%s: decode = %q %q %v", name, f.Raw, f.Body, err)
		}
	}
}
