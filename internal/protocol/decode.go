package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/rexec-dev/rexec/internal/protocol/frame"
)

// Decode turns a frame into its message, strictly (PROTOCOL.md §3): the
// type must be known; known keys must match exactly (a key equal to a known
// one but for case is refused, since encoding/json would accept it); values
// must have the field's JSON type and fit it; null is refused; unknown keys
// are ignored. A Data message's Body aliases f.Body.
func Decode(f frame.Frame) (Message, error) {
	typ, err := typeOf(f.Fields)
	if err != nil {
		return nil, err
	}
	m := newMessage(typ)
	if m == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, truncate(typ))
	}
	if d, ok := m.(*Data); ok {
		d.Body = f.Body
		return *d, checkFields(f.Fields, nil)
	}
	if len(f.Body) != 0 {
		return nil, fmt.Errorf("%w: %s carries no body", ErrBadField, typ)
	}
	if err := fill(m, f.Fields); err != nil {
		return nil, err
	}
	if err := validate(m); err != nil {
		return nil, err
	}
	// Callers switch on value types (case protocol.Exec:), never pointers.
	return reflect.ValueOf(m).Elem().Interface().(Message), nil
}

func typeOf(fields map[string]json.RawMessage) (string, error) {
	raw, ok := fields["type"]
	if !ok {
		return "", fmt.Errorf("%w: missing type", ErrBadField)
	}
	if typ, ok := plainString(raw); ok {
		return typ, nil
	}
	var typ string
	if err := unmarshalStrict(raw, &typ); err != nil {
		return "", fmt.Errorf("%w: type: %v", ErrBadField, err)
	}
	return typ, nil
}

// fieldTable maps each exact JSON name of a message struct to its field index.
type fieldTable struct {
	index map[string]int
	lower map[string]string // lower-case name -> exact name
	plain map[int]bool      // fields assignPlain may set (string, int, bool kinds)
}

var tables sync.Map // reflect.Type -> *fieldTable

func tableFor(t reflect.Type) *fieldTable {
	if v, ok := tables.Load(t); ok {
		return v.(*fieldTable)
	}
	ft := &fieldTable{index: map[string]int{}, lower: map[string]string{}, plain: map[int]bool{}}
	for _, name := range []string{"type", "size"} {
		ft.lower[name] = name
	}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		ft.index[name] = i
		ft.lower[strings.ToLower(name)] = name
		ft.plain[i] = isPlainKind(t.Field(i).Type)
	}
	tables.Store(t, ft)
	return ft
}

// checkFields refuses keys that differ from a known key only by case.
func checkFields(fields map[string]json.RawMessage, ft *fieldTable) error {
	if ft == nil {
		ft = tableFor(reflect.TypeOf(Data{}))
	}
	for key := range fields {
		if exact, ok := ft.lower[strings.ToLower(key)]; ok && exact != key {
			return fmt.Errorf("%w: key %q must be spelled %q", ErrBadField, truncate(key), exact)
		}
	}
	return nil
}

func fill(m Message, fields map[string]json.RawMessage) error {
	v := reflect.ValueOf(m).Elem()
	ft := tableFor(v.Type())
	if err := checkFields(fields, ft); err != nil {
		return err
	}
	for key, raw := range fields {
		i, ok := ft.index[key]
		if !ok {
			continue // unknown fields are ignored (§3)
		}
		if ft.plain[i] && assignPlain(v.Field(i), raw) {
			continue
		}
		if err := unmarshalStrict(raw, v.Field(i).Addr().Interface()); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadField, key, err)
		}
	}
	return nil
}

// unmarshalerType is what a field implements when its JSON is its own.
var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// isPlainKind reports whether assignPlain may set a field of type t: a
// string, integer or boolean kind that does not decode its JSON itself.
func isPlainKind(t reflect.Type) bool {
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return false
	}
	switch t.Kind() {
	case reflect.String, reflect.Int, reflect.Int64, reflect.Bool:
		return true
	}
	return false
}

// assignPlain is fill's fast path for the values rexec itself sends: a
// string without escapes, an integer without fraction or exponent that
// fits the field, true or false. It sets the field exactly as
// unmarshalStrict would and reports true; anything else (an escape, a
// value of another JSON type, null, an overflow) it leaves to
// unmarshalStrict, which decodes it or says why not (TestAssignPlain,
// FuzzAssignPlain).
func assignPlain(f reflect.Value, raw json.RawMessage) bool {
	switch f.Kind() {
	case reflect.String:
		if s, ok := plainString(raw); ok {
			f.SetString(s)
			return true
		}
	case reflect.Int, reflect.Int64:
		if n, ok := plainInt(raw); ok && !f.OverflowInt(n) {
			f.SetInt(n)
			return true
		}
	case reflect.Bool:
		switch string(raw) {
		case "true", "false":
			f.SetBool(raw[0] == 't')
			return true
		}
	}
	return false
}

// plainString returns the contents of a JSON string without escapes or
// control characters (the header it comes from is valid UTF-8: package
// frame refuses anything else).
func plainString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	for _, c := range body {
		if c == '"' || c == '\\' || c < 0x20 {
			return "", false
		}
	}
	return string(body), true
}

// plainInt parses a JSON integer without fraction or exponent of at most
// 18 digits (longer ones go to encoding/json, which knows int64's range).
func plainInt(raw json.RawMessage) (int64, bool) {
	digits := raw
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 18 || digits[0] == '0' && len(digits) > 1 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' { // ParseInt would take a leading '+'; JSON does not
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, err == nil
}

// unmarshalStrict is json.Unmarshal minus its leniencies: null is refused
// instead of leaving the zero value, and so is null inside arrays and maps.
// Duplicate keys and invalid UTF-8 were already refused by package frame.
func unmarshalStrict(raw json.RawMessage, dst any) error {
	if bytes.Contains(raw, []byte("null")) && hasNull(raw) {
		return fmt.Errorf("null is not allowed")
	}
	return json.Unmarshal(raw, dst)
}

// hasNull reports whether raw holds a JSON null token (not inside a string).
func hasNull(raw json.RawMessage) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if tok == nil {
			return true
		}
	}
}

func truncate(s string) string {
	const max = 40
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
