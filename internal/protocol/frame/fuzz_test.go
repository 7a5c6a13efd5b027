package frame

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// FuzzNext feeds arbitrary streams to the reader. It must never panic, never
// return a body over the limit, and whatever it accepts must be a header that
// encoding/json also accepts as an object with the same members.
func FuzzNext(f *testing.F) {
	seeds := [][]byte{
		frameOf(`{"type":"ping"}`, ""),
		frameOf(`{"type":"stdout","size":5}`, "hello"),
		frameOf(`{"type":"exec","argv":["a","b"],"env":{"A":"1"}}`, ""),
		frameOf(`{"type":"a","type":"b"}`, ""),
		frameOf(`{"type":"a","size":-1}`, ""),
		rawFrame(0xFFFFFFFF, "", ""),
		frameOf(`GET / HTTP/1.1`, ""),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in))
		for i := 0; i < 4; i++ {
			fr, err := r.Next()
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, ErrTruncated) || errors.Is(err, ErrBadHeader) ||
					errors.Is(err, ErrHeaderTooLarge) || errors.Is(err, ErrBodyTooLarge) {
					return
				}
				t.Fatalf("unexpected error class: %v", err)
			}
			if len(fr.Body) > MaxBodySize || len(fr.Raw) > MaxHeaderSize {
				t.Fatalf("accepted oversized frame")
			}
			var m map[string]any
			if err := json.Unmarshal(fr.Raw, &m); err != nil {
				t.Fatalf("accepted header encoding/json refuses: %q: %v", fr.Raw, err)
			}
			if len(m) != len(fr.Fields) {
				t.Fatalf("member count differs: %d vs %d", len(m), len(fr.Fields))
			}
		}
	})
}

// FuzzDecodeHeader is the differential check of docs/PROTOCOL.md §3: a
// header is accepted only if it is one object with unique keys.
func FuzzDecodeHeader(f *testing.F) {
	for _, s := range []string{`{"type":"x"}`, `{"a":{"b":1,"b":2}}`, `{"size":3}`, `{} `, `{"a":"\ud800"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fields, size, err := DecodeHeader(raw)
		if err != nil {
			return
		}
		if size < 0 || size > MaxBodySize {
			t.Fatalf("size %d out of range", size)
		}
		if ok := strictScan(raw); !ok {
			t.Fatalf("DecodeHeader accepted %q which the strict scanner refuses", raw)
		}
		_ = fields
	})
}

// strictScan is an independent re-statement of the rules: valid JSON object,
// first byte '{', last byte '}', duplicate keys refused at every level.
func strictScan(raw []byte) bool {
	if len(raw) == 0 || raw[0] != '{' || raw[len(raw)-1] != '}' || !json.Valid(raw) {
		return false
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	return noDupKeys(raw)
}

// scanLevel is one open container while noDupKeys walks the tokens.
type scanLevel struct {
	obj       bool
	keys      map[string]bool
	expectKey bool
}

func noDupKeys(raw []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var stack []*scanLevel
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
		top := len(stack) - 1
		if top >= 0 && stack[top].obj && stack[top].expectKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = afterValue(stack[:top])
				continue
			}
			k := tok.(string)
			if stack[top].keys[k] {
				return false
			}
			stack[top].keys[k] = true
			stack[top].expectKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &scanLevel{obj: true, keys: map[string]bool{}, expectKey: true})
		case json.Delim('['):
			stack = append(stack, &scanLevel{})
		case json.Delim(']'):
			stack = afterValue(stack[:top])
		default:
			stack = afterValue(stack)
		}
	}
}

// afterValue records that a complete value was read inside the top container.
func afterValue(stack []*scanLevel) []*scanLevel {
	if n := len(stack); n > 0 && stack[n-1].obj {
		stack[n-1].expectKey = true
	}
	return stack
}

// cutMatchesNext reads in with Next and with Cut, up to four frames, and
// fails unless both give the same frames and then the same error class.
func cutMatchesNext(t *testing.T, in []byte) {
	r := NewReader(bytes.NewReader(in))
	rest := in
	for range 4 {
		want, werr := r.Next()
		if len(rest) == 0 {
			if werr != io.EOF {
				t.Fatalf("Next after the last frame: %v, want io.EOF", werr)
			}
			return
		}
		got, next, err := Cut(rest)
		for _, class := range []error{ErrTruncated, ErrBadHeader, ErrHeaderTooLarge, ErrBodyTooLarge} {
			if errors.Is(err, class) != errors.Is(werr, class) {
				t.Fatalf("Cut(%q) error %v, Next error %v", rest, err, werr)
			}
		}
		if (err == nil) != (werr == nil) {
			t.Fatalf("Cut(%q) error %v, Next error %v", rest, err, werr)
		}
		if err != nil {
			return
		}
		if !bytes.Equal(got.Raw, want.Raw) || !bytes.Equal(got.Body, want.Body) || len(got.Fields) != len(want.Fields) {
			t.Fatalf("Cut(%q) = %q %q, Next = %q %q", rest, got.Raw, got.Body, want.Raw, want.Body)
		}
		for k, v := range want.Fields {
			if !bytes.Equal(got.Fields[k], v) {
				t.Fatalf("Cut(%q) member %q = %q, Next %q", rest, k, got.Fields[k], v)
			}
		}
		rest = next
	}
}

// TestCut: Cut reads a buffer of frames as Next reads a stream of them.
func TestCut(t *testing.T) {
	two := append(frameOf(`{"type":"stdout","size":5}`, "hello"), frameOf(`{"type":"ping"}`, "")...)
	for _, in := range [][]byte{
		two,
		two[:len(two)-1],
		two[:3],
		frameOf(`{"type":"stdout","size":5}`, "hel"),
		frameOf(`{"type":"a","type":"b"}`, ""),
		frameOf(`{"type":"a","size":1048577}`, ""),
		rawFrame(0xFFFFFFFF, "", ""),
		rawFrame(10, `{}`, ""),
	} {
		cutMatchesNext(t, in)
	}
}

// FuzzCut holds Cut to Next on any bytes.
func FuzzCut(f *testing.F) {
	for _, s := range [][]byte{
		frameOf(`{"type":"ping"}`, ""),
		append(frameOf(`{"type":"stdout","size":5}`, "hello"), frameOf(`{"type":"ping"}`, "")...),
		frameOf(`{"type":"exec","argv":["a","b"],"env":{"A":"1"}}`, ""),
		frameOf(`{"type":"a","size":-1}`, ""),
		rawFrame(0xFFFFFFFF, "", ""),
	} {
		f.Add(s)
	}
	f.Fuzz(cutMatchesNext)
}
