package frame

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"
)

// maxDepth bounds nesting inside a header: ours are flat with at most one
// level of arrays or maps; the bound stops a hostile header of 32 K opening
// brackets from costing more than it has to.
const maxDepth = 8

// DecodeHeader checks raw against the strict rules of docs/PROTOCOL.md §3 and
// returns its top-level members and the body size it announces.
// Every failure wraps ErrBadHeader or ErrBodyTooLarge.
func DecodeHeader(raw []byte) (map[string]json.RawMessage, int, error) {
	if fields, size, ok := decodeFlat(raw); ok {
		return fields, size, nil
	}
	return decodeGeneral(raw)
}

// decodeGeneral is DecodeHeader for any header: encoding/json's decoder,
// after checkShape has refused what it would let through.
func decodeGeneral(raw []byte) (map[string]json.RawMessage, int, error) {
	if err := checkShape(raw); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrBadHeader, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrBadHeader, err)
	}
	size, err := bodySize(fields[SizeKey])
	if err != nil {
		return nil, 0, err
	}
	return fields, size, nil
}

// checkShape enforces what encoding/json would let through: invalid UTF-8
// (silently replaced by U+FFFD), duplicate keys (last one wins), anything but
// an object at the top, and bytes before or after it.
func checkShape(raw []byte) error {
	if !utf8.Valid(raw) {
		return fmt.Errorf("header is not valid UTF-8")
	}
	if len(raw) == 0 || raw[0] != '{' || raw[len(raw)-1] != '}' {
		return fmt.Errorf("header must be one JSON object with nothing before or after it")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := walkValue(dec, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after header object")
	}
	return nil
}

// walkValue consumes one JSON value from dec, rejecting duplicate keys in
// any object and nesting deeper than maxDepth.
func walkValue(dec *json.Decoder, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("header nested deeper than %d levels", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	switch tok {
	case json.Delim('{'):
		return walkObject(dec, depth)
	case json.Delim('['):
		for dec.More() {
			if err := walkValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		return err
	}
	return nil
}

func walkObject(dec *json.Decoder, depth int) error {
	seen := make(map[string]struct{})
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("invalid JSON: %v", err)
		}
		key, _ := tok.(string)
		if _, dup := seen[key]; dup {
			return fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = struct{}{}
		if err := walkValue(dec, depth+1); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

// decodeFlat is DecodeHeader's fast path for the headers rexec sends,
// which come by the thousand in a tree's batches: one object, on valid
// UTF-8, whose members are strings without escapes or control
// characters, integers without fraction or exponent, true or false, or
// arrays of those; no deeper nesting, no repeated name, a size in range. It accepts nothing the
// general path refuses and decodes what it accepts to the same members
// (the value as written) and size; for anything else (an escape, a
// nested value, null, a fraction, a repeated name, a bad size) ok is
// false and the general path decides, refusals included.
// FuzzHeaderDifferential holds both paths to an independent reading of
// PROTOCOL.md §3.
func decodeFlat(raw []byte) (fields map[string]json.RawMessage, size int, ok bool) {
	if len(raw) < 2 || raw[0] != '{' || raw[len(raw)-1] != '}' || !utf8.Valid(raw) {
		return nil, 0, false
	}
	fields = make(map[string]json.RawMessage, 8)
	i := skipSpace(raw, 1)
	if raw[i] == '}' {
		return fields, 0, i == len(raw)-1
	}
	for {
		key, next, ok := flatString(raw, i)
		if !ok {
			return nil, 0, false
		}
		i = skipSpace(raw, next)
		if raw[i] != ':' {
			return nil, 0, false
		}
		i = skipSpace(raw, i+1)
		end, ok := flatValue(raw, i)
		if !ok {
			return nil, 0, false
		}
		name := string(key)
		if _, dup := fields[name]; dup {
			return nil, 0, false
		}
		fields[name] = raw[i:end:end]
		i = skipSpace(raw, end)
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
			continue
		case '}':
			if i != len(raw)-1 {
				return nil, 0, false
			}
		default:
			return nil, 0, false
		}
		break
	}
	if v, has := fields[SizeKey]; has {
		n, ok := flatInt(v)
		if !ok || n < 0 || n > MaxBodySize {
			return nil, 0, false
		}
		size = int(n)
	}
	return fields, size, true
}

// skipSpace returns the index of the first byte from i on that is not
// JSON white space. raw ends with '}', so the result is always in range.
func skipSpace(raw []byte, i int) int {
	for i < len(raw) {
		switch raw[i] {
		case ' ', '\t', '\n', '\r':
			i++
			continue
		}
		break
	}
	return i
}

// flatString reads a string without escapes or control characters that
// starts at raw[i] and returns its contents and the index after it.
func flatString(raw []byte, i int) ([]byte, int, bool) {
	if raw[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(raw); j++ {
		switch c := raw[j]; {
		case c == '"':
			return raw[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// flatValue returns the end of the flat value (flatString, an integer,
// true, false, or an array of those: a hello's features, an exec's argv)
// that starts at raw[i].
func flatValue(raw []byte, i int) (int, bool) {
	switch c := raw[i]; {
	case c == '[':
		return flatArray(raw, i)
	case c == '"':
		_, end, ok := flatString(raw, i)
		return end, ok
	case c == 't' || c == 'f':
		for _, w := range []string{"true", "false"} {
			if len(raw)-i >= len(w) && string(raw[i:i+len(w)]) == w {
				return i + len(w), delimiter(raw, i+len(w))
			}
		}
		return 0, false
	case c == '-' || c >= '0' && c <= '9':
		j := i
		if raw[j] == '-' {
			j++
		}
		start := j
		for j < len(raw) && raw[j] >= '0' && raw[j] <= '9' {
			j++
		}
		if j == start || raw[start] == '0' && j-start > 1 {
			return 0, false
		}
		return j, delimiter(raw, j)
	}
	return 0, false
}

// flatArray returns the end of the array of flat scalars (no arrays
// in it) that starts at raw[i]. raw ends with '}', which no skipSpace
// passes and which ends the search for a ']', so every index stays in
// range.
func flatArray(raw []byte, i int) (int, bool) {
	j := skipSpace(raw, i+1)
	if raw[j] == ']' {
		return j + 1, delimiter(raw, j+1)
	}
	for {
		if raw[j] == '[' {
			return 0, false
		}
		end, ok := flatValue(raw, j)
		if !ok {
			return 0, false
		}
		j = skipSpace(raw, end)
		switch raw[j] {
		case ',':
			j = skipSpace(raw, j+1)
		case ']':
			return j + 1, delimiter(raw, j+1)
		default:
			return 0, false
		}
	}
}

// delimiter reports whether a value may end before raw[j]: white space,
// a comma, the closing brace or, in an array, bracket (not '.', 'e' or a
// letter that would make it another token). A ']' after a member's value
// is refused by decodeFlat's own next step.
func delimiter(raw []byte, j int) bool {
	if j >= len(raw) {
		return false
	}
	switch raw[j] {
	case ' ', '\t', '\n', '\r', ',', '}', ']':
		return true
	}
	return false
}

// flatInt parses an integer value as flatValue accepts it (at most 18
// digits: larger values go to the general path, which knows int64's range).
func flatInt(v []byte) (int64, bool) {
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// bodySize decodes the size member: absent means 0; anything but an integer
// in [0, MaxBodySize] is refused before the body is read.
func bodySize(raw json.RawMessage) (int, error) {
	if raw == nil {
		return 0, nil
	}
	var n int64
	if bytes.Equal(raw, []byte("null")) || json.Unmarshal(raw, &n) != nil {
		return 0, fmt.Errorf("%w: size must be an integer, got %s", ErrBadHeader, truncate(raw))
	}
	if n < 0 {
		return 0, fmt.Errorf("%w: negative size %d", ErrBadHeader, n)
	}
	if n > MaxBodySize {
		return 0, fmt.Errorf("%w (got %d bytes)", ErrBodyTooLarge, n)
	}
	return int(n), nil
}

// truncate keeps error messages one short line whatever the peer sent.
func truncate(b []byte) string {
	const max = 40
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
