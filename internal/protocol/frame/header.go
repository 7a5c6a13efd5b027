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
