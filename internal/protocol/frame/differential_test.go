package frame

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
)

// This file holds a second, independent implementation of the header rules
// of docs/PROTOCOL.md §3.1–3.2, written from the document and not from
// header.go: a hand-written recursive-descent scanner for RFC 8259 with
// its own UTF-8 check (RFC 3629), escape decoding, duplicate names at any
// depth and the depth rule, then the size rules on top. It uses neither
// encoding/json nor unicode/utf8. FuzzHeaderDifferential holds DecodeHeader
// to it: no header may be accepted by one and refused by the other.

// specMaxDepth is PROTOCOL.md §3.1 rule 5: the header object is at depth 0
// and a value deeper than 8 is refused.
const specMaxDepth = 8

// verdict is what the strict scanner makes of a header.
type verdict int

const (
	accepted verdict = iota
	badHeader
	bodyTooLarge
)

func (v verdict) String() string {
	return [...]string{"accepted", "bad header", "body too large"}[v]
}

// strictResult is the strict scanner's reading of a header.
type strictResult struct {
	verdict verdict
	reason  string
	size    int
	members map[string][]byte // top-level name (decoded) -> value as written
}

// strictHeader applies PROTOCOL.md §3.1 (syntax) then §3.2 rule 7 (size).
func strictHeader(raw []byte) strictResult {
	if i := invalidUTF8(raw); i >= 0 {
		return strictResult{verdict: badHeader, reason: fmt.Sprintf("invalid UTF-8 at byte %d", i)}
	}
	if len(raw) == 0 || raw[0] != '{' || raw[len(raw)-1] != '}' {
		return strictResult{verdict: badHeader, reason: "not {...}"}
	}
	s := &scanner{b: raw, members: map[string][]byte{}}
	if err := s.object(0); err != nil {
		return strictResult{verdict: badHeader, reason: err.Error()}
	}
	if s.i != len(raw) {
		return strictResult{verdict: badHeader, reason: fmt.Sprintf("trailing bytes at %d", s.i)}
	}
	v, size, reason := specSize(s.members)
	return strictResult{verdict: v, reason: reason, size: size, members: s.members}
}

// specSize is §3.2 rule 7: absent is 0; an integer (no fraction, no
// exponent, -0 allowed) in [0, 1 MiB]; larger but within int64 is
// too_large; anything else is a bad header.
func specSize(members map[string][]byte) (verdict, int, string) {
	v, ok := members["size"]
	if !ok {
		return accepted, 0, ""
	}
	digits, neg := v, false
	if len(digits) > 0 && digits[0] == '-' {
		digits, neg = digits[1:], true
	}
	if len(digits) == 0 || (digits[0] == '0' && len(digits) > 1) {
		return badHeader, 0, "size is not an integer"
	}
	var n uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return badHeader, 0, "size is not an integer"
		}
		if n > (1<<63-1-uint64(c-'0'))/10 {
			return badHeader, 0, "size beyond int64"
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case neg && n != 0:
		return badHeader, 0, "negative size"
	case n > MaxBodySize:
		return bodyTooLarge, 0, "size over the limit"
	}
	return accepted, int(n), ""
}

// invalidUTF8 returns the offset of the first byte that is not part of a
// well-formed UTF-8 sequence (RFC 3629 §4), or -1.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		n := utf8Len(b[i:])
		if n == 0 {
			return i
		}
		i += n
	}
	return -1
}

// utf8Len returns the length of the well-formed sequence b starts with, or
// 0 if it does not start with one.
func utf8Len(b []byte) int {
	c := b[0]
	var n int
	lo, hi := byte(0x80), byte(0xBF) // range of the second byte
	switch {
	case c < 0x80:
		return 1
	case c >= 0xC2 && c <= 0xDF:
		n = 2
	case c == 0xE0:
		n, lo = 3, 0xA0
	case c == 0xED:
		n, hi = 3, 0x9F // no surrogates
	case c >= 0xE1 && c <= 0xEF:
		n = 3
	case c == 0xF0:
		n, lo = 4, 0x90
	case c >= 0xF1 && c <= 0xF3:
		n = 4
	case c == 0xF4:
		n, hi = 4, 0x8F
	default:
		return 0
	}
	if len(b) < n || b[1] < lo || b[1] > hi {
		return 0
	}
	for _, x := range b[2:n] {
		if x < 0x80 || x > 0xBF {
			return 0
		}
	}
	return n
}

// scanner is a recursive-descent RFC 8259 parser over b.
type scanner struct {
	b       []byte
	i       int
	members map[string][]byte // of the top-level object
}

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("at %d: "+format, append([]any{s.i}, args...)...)
}

func (s *scanner) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// value parses one value at depth d (whitespace around it is the caller's).
func (s *scanner) value(d int) error {
	if d > specMaxDepth {
		return s.errorf("value at depth %d", d)
	}
	switch c := s.peek(); {
	case c == '{':
		return s.object(d)
	case c == '[':
		return s.array(d)
	case c == '"':
		_, err := s.str()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return s.errorf("no value")
}

func (s *scanner) object(d int) error {
	s.i++ // '{'
	names := map[string]bool{}
	s.ws()
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if s.peek() != '"' {
			return s.errorf("member name expected")
		}
		name, err := s.str()
		if err != nil {
			return err
		}
		if names[name] {
			return s.errorf("duplicate name %q", name)
		}
		names[name] = true
		s.ws()
		if s.peek() != ':' {
			return s.errorf("':' expected")
		}
		s.i++
		s.ws()
		start := s.i
		if err := s.value(d + 1); err != nil {
			return err
		}
		if d == 0 {
			s.members[name] = s.b[start:s.i]
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.errorf("',' or '}' expected")
		}
	}
}

func (s *scanner) array(d int) error {
	s.i++ // '['
	s.ws()
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if err := s.value(d + 1); err != nil {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.errorf("',' or ']' expected")
		}
	}
}

func (s *scanner) literal(word string) error {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		return s.errorf("bad literal")
	}
	s.i += len(word)
	return nil
}

// number is RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func (s *scanner) number() error {
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return s.errorf("bad number")
	}
	if s.peek() == '.' {
		s.i++
		if s.digits() == 0 {
			return s.errorf("bad fraction")
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if s.digits() == 0 {
			return s.errorf("bad exponent")
		}
	}
	return nil
}

func (s *scanner) digits() int {
	n := 0
	for s.peek() >= '0' && s.peek() <= '9' {
		s.i++
		n++
	}
	return n
}

// str parses a string and returns its decoded value: escapes resolved, a
// UTF-16 surrogate pair joined, an unpaired surrogate replaced by U+FFFD
// (PROTOCOL.md §3.1).
func (s *scanner) str() (string, error) {
	s.i++ // '"'
	var out []byte
	for {
		if s.i >= len(s.b) {
			return "", s.errorf("unterminated string")
		}
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return string(out), nil
		case c == '\\':
			var err error
			if out, err = s.escape(out); err != nil {
				return "", err
			}
		case c < 0x20:
			return "", s.errorf("control character in string")
		default: // UTF-8 was checked up front
			n := utf8Len(s.b[s.i:])
			out = append(out, s.b[s.i:s.i+n]...)
			s.i += n
		}
	}
}

var simpleEscapes = map[byte]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

func (s *scanner) escape(out []byte) ([]byte, error) {
	s.i++ // '\\'
	c := s.peek()
	if r, ok := simpleEscapes[c]; ok {
		s.i++
		return append(out, r), nil
	}
	if c != 'u' {
		return nil, s.errorf("bad escape")
	}
	u, ok := s.hex4(s.i + 1)
	if !ok {
		return nil, s.errorf("bad \\u escape")
	}
	s.i += 5
	switch {
	case u >= 0xD800 && u <= 0xDBFF:
		if s.peek() == '\\' && s.i+1 < len(s.b) && s.b[s.i+1] == 'u' {
			if lo, ok := s.hex4(s.i + 2); ok && lo >= 0xDC00 && lo <= 0xDFFF {
				s.i += 6
				return appendRune(out, 0x10000+(u-0xD800)<<10+(lo-0xDC00)), nil
			}
		}
		return appendRune(out, 0xFFFD), nil
	case u >= 0xDC00 && u <= 0xDFFF:
		return appendRune(out, 0xFFFD), nil
	}
	return appendRune(out, u), nil
}

// hex4 reads four hex digits at i.
func (s *scanner) hex4(i int) (rune, bool) {
	if i+4 > len(s.b) {
		return 0, false
	}
	var n rune
	for _, c := range s.b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// appendRune is UTF-8 encoding (RFC 3629 §3) of a scalar value.
func appendRune(b []byte, r rune) []byte {
	switch {
	case r < 0x80:
		return append(b, byte(r))
	case r < 0x800:
		return append(b, 0xC0|byte(r>>6), 0x80|byte(r)&0x3F)
	case r < 0x10000:
		return append(b, 0xE0|byte(r>>12), 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F)
	}
	return append(b, 0xF0|byte(r>>18), 0x80|byte(r>>12)&0x3F, 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F)
}

// differential compares DecodeHeader with the strict scanner on raw, and
// each of its two paths (decodeFlat where it takes the header, and
// decodeGeneral always) on its own.
func differential(raw []byte) error {
	fields, size, err := DecodeHeader(raw)
	if err := compareStrict(raw, fields, size, err); err != nil {
		return err
	}
	fields, size, err = decodeGeneral(raw)
	if err := compareStrict(raw, fields, size, err); err != nil {
		return fmt.Errorf("general path: %w", err)
	}
	if fields, size, ok := decodeFlat(raw); ok {
		if err := compareStrict(raw, fields, size, nil); err != nil {
			return fmt.Errorf("flat path: %w", err)
		}
	}
	return nil
}

// compareStrict compares what one decoder made of raw with the strict
// scanner's reading.
func compareStrict[M ~map[string]V, V ~[]byte](raw []byte, fields M, size int, err error) error {
	want := strictHeader(raw)
	switch {
	case err == nil && want.verdict != accepted:
		return fmt.Errorf("DecodeHeader accepts %q, the strict scanner says %s (%s)", raw, want.verdict, want.reason)
	case err != nil && want.verdict == accepted:
		return fmt.Errorf("DecodeHeader refuses %q (%v), the strict scanner accepts it", raw, err)
	case err != nil:
		if got := errors.Is(err, ErrBodyTooLarge); got != (want.verdict == bodyTooLarge) || !got && !errors.Is(err, ErrBadHeader) {
			return fmt.Errorf("DecodeHeader(%q) = %v, the strict scanner says %s (%s)", raw, err, want.verdict, want.reason)
		}
		return nil
	}
	if size != want.size {
		return fmt.Errorf("DecodeHeader(%q) size = %d, the strict scanner reads %d", raw, size, want.size)
	}
	if got, exp := slices.Sorted(maps.Keys(fields)), slices.Sorted(maps.Keys(want.members)); !slices.Equal(got, exp) {
		return fmt.Errorf("DecodeHeader(%q) members %q, the strict scanner reads %q", raw, got, exp)
	}
	for k, v := range want.members {
		if !bytes.Equal(fields[k], v) {
			return fmt.Errorf("DecodeHeader(%q) member %q = %q, the strict scanner reads %q", raw, k, fields[k], v)
		}
	}
	return nil
}

// differentialCases are the rules of PROTOCOL.md §3.1–3.2 one by one, with
// the verdict the document gives.
var differentialCases = []struct {
	hdr  string
	want verdict
}{
	{`{}`, accepted},
	{`{"type":"ping"}`, accepted},
	{`{"type":"stdout","size":5}`, accepted},
	{`{ "type" : "x" ,` + "\n\t\r" + `"size":0 }`, accepted},
	{`{"type":"x","s":"日本","e":"\u00e9\/\b\f\n\r\t\"\\"}`, accepted},
	{`{"type":"exec","argv":["a","b"],"env":{"A":"1","B":"2"}}`, accepted},
	{`{"a":[[[[[[[1]]]]]]]}`, accepted},     // the innermost 1 at depth 8
	{`{"a":[[[[[[[[1]]]]]]]]}`, badHeader},  // at depth 9
	{`{"a":[[[[[[[[]]]]]]]]}`, accepted},    // eight arrays, the innermost empty
	{`{"a":[[[[[[[[[]]]]]]]]]}`, badHeader}, // nine
	{`{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":1}}}}}}}}`, accepted},
	{`{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{}}}}}}}}}`, accepted},
	{`{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":1}}}}}}}}}`, badHeader},
	{`{"a":1,"a":2}`, badHeader},
	{`{"a":1,"\u0061":2}`, badHeader},
	{`{"a":{"b":1,"b":2}}`, badHeader},
	{`{"a":[{"b":1},{"b":2}]}`, accepted},
	{`{"a":[{"b":1,"b":2}]}`, badHeader},
	{`{"\ud800":1,"\udc00":2}`, badHeader}, // both U+FFFD
	{`{"\ud83d\ude00":1,"😀":2}`, badHeader},
	{`{"\ud83d\u0041":1,"\ufffdA":2}`, badHeader},
	{`{"A":1,"a":2}`, accepted}, // case is protocol's business (§3.3)
	{`{"type":"a"}{}`, badHeader},
	{`{"type":"a"} `, badHeader},
	{` {"type":"a"}`, badHeader},
	{"\ufeff{}", badHeader},
	{`{"a":1,}`, badHeader},
	{`{"a":[1,]}`, badHeader},
	{`{"a" 1}`, badHeader},
	{`{"a":01}`, badHeader},
	{`{"a":1.}`, badHeader},
	{`{"a":.5}`, badHeader},
	{`{"a":-}`, badHeader},
	{`{"a":1e}`, badHeader},
	{`{"a":-0.0e+00}`, accepted},
	{`{"a":tru}`, badHeader},
	{`{"a":nulll}`, badHeader},
	{`{"a":"\x"}`, badHeader},
	{`{"a":"\u12G4"}`, badHeader},
	{`{"a":"\u0000"}`, accepted},
	{"{\"a\":\"\x01\"}", badHeader},
	{"{\"a\":\"\x7f\"}", accepted},
	{"{\"a\":\"\xff\"}", badHeader},
	{"{\"a\":\"\xc0\x80\"}", badHeader},     // overlong
	{"{\"a\":\"\xed\xa0\x80\"}", badHeader}, // an encoded surrogate
	{"{\"a\":\"\xf4\x90\x80\x80\"}", badHeader},
	{`{"a":'x'}`, badHeader},
	{`{a:1}`, badHeader},
	{`{"size":-0}`, accepted},
	{`{"size":1048576}`, accepted},
	{`{"size":1048577}`, bodyTooLarge},
	{`{"size":9223372036854775807}`, bodyTooLarge},
	{`{"size":9223372036854775808}`, badHeader},
	{`{"size":-9223372036854775808}`, badHeader},
	{`{"size":-1}`, badHeader},
	{`{"size":1.0}`, badHeader},
	{`{"size":1e2}`, badHeader},
	{`{"size":"1"}`, badHeader},
	{`{"size":null}`, badHeader},
	{`{"size":[1]}`, badHeader},
	{`{"size":1,"size":1}`, badHeader},
	{`{"x":{"size":-1}}`, accepted}, // only the top-level size counts
	{`{"size" : 7 }`, accepted},
}

// TestHeaderDifferential checks the table against both implementations.
func TestHeaderDifferential(t *testing.T) {
	for _, tt := range differentialCases {
		if got := strictHeader([]byte(tt.hdr)); got.verdict != tt.want {
			t.Errorf("strictHeader(%q) = %s (%s), want %s", tt.hdr, got.verdict, got.reason, tt.want)
		}
		if err := differential([]byte(tt.hdr)); err != nil {
			t.Error(err)
		}
	}
}

// FuzzHeaderDifferential holds DecodeHeader to the strict scanner: the
// same verdict (accepted, bad header, body too large), and for an accepted
// header the same size and the same top-level members with the same
// values. Seeds: the table above and the headers of TestNext.
func FuzzHeaderDifferential(f *testing.F) {
	for _, tt := range differentialCases {
		f.Add([]byte(tt.hdr))
	}
	for _, s := range []string{`GET / HTTP/1.1`, `["type"]`, `{"type":"a","env":{"X":"1","X":"2"}}`,
		`{"type":"a","size":99999999999999999999}`, `{"a":[[[[[[[[[[1]]]]]]]]]]}`, `{"type":"a","size":1.5}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > MaxHeaderSize {
			t.Skip("Reader refuses such a header before DecodeHeader sees it")
		}
		if err := differential(raw); err != nil {
			t.Fatal(err)
		}
	})
}
