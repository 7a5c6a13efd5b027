package protocol

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// plainCases are raw JSON values for fields of each plain kind: those
// assignPlain takes and those it must leave to unmarshalStrict.
var plainCases = []string{
	`"abc"`, `""`, `"日本"`, `"a\nb"`, `"\u0061"`, `"a\"b"`, `"a`, `a"`, `"`,
	`0`, `-0`, `42`, `-42`, `123456789012345678`, `1234567890123456789`, `9223372036854775807`,
	`9223372036854775808`, `-9223372036854775808`, `01`, `1.5`, `1e3`, `-`, `2147483648`, `+0`, `+42`, `-+1`, `1_000`,
	`true`, `false`, `null`, `tru`, `[1]`, `{}`, `"true"`, `"1"`,
}

// plainTargets are fields of each kind assignPlain handles, and one of a
// narrower integer kind it leaves alone.
type plainTargets struct {
	S string
	I int
	L int64
	B bool
	N int32
	K Kind
}

// Kind is a named string type, as message fields have them.
type Kind string

// checkPlain holds assignPlain to unmarshalStrict for raw on every field:
// where assignPlain sets a field, unmarshalStrict accepts raw and sets the
// same value. Headers are valid UTF-8 by the time fill sees them (package
// frame refuses the rest), so only such values are compared.
func checkPlain(t *testing.T, raw []byte) {
	if !utf8.Valid(raw) {
		return
	}
	for i := range reflect.TypeFor[plainTargets]().NumField() {
		var fast, slow plainTargets
		fv := reflect.ValueOf(&fast).Elem().Field(i)
		if !isPlainKind(fv.Type()) || !assignPlain(fv, json.RawMessage(raw)) {
			continue
		}
		sv := reflect.ValueOf(&slow).Elem().Field(i)
		if err := unmarshalStrict(json.RawMessage(raw), sv.Addr().Interface()); err != nil {
			t.Fatalf("assignPlain sets %s from %q, unmarshalStrict refuses it: %v", fv.Type(), raw, err)
		}
		if fast != slow {
			t.Fatalf("assignPlain sets %s from %q to %+v, unmarshalStrict to %+v", fv.Type(), raw, fast, slow)
		}
	}
}

// TestAssignPlain: the fast path of fill takes exactly the plain values
// and decodes them as unmarshalStrict does.
func TestAssignPlain(t *testing.T) {
	taken := map[string]bool{}
	for _, raw := range plainCases {
		checkPlain(t, []byte(raw))
		var p plainTargets
		for _, f := range []reflect.Value{reflect.ValueOf(&p.S).Elem(), reflect.ValueOf(&p.L).Elem(), reflect.ValueOf(&p.B).Elem()} {
			if assignPlain(f, json.RawMessage(raw)) {
				taken[raw] = true
			}
		}
	}
	for raw, want := range map[string]bool{`"abc"`: true, `"a\nb"`: false, `-0`: true, `1234567890123456789`: false,
		`1.5`: false, `true`: true, `null`: false, `"1"`: true, `[1]`: false, `+0`: false, `+42`: false} {
		if taken[raw] != want {
			t.Errorf("assignPlain takes %s: %v, want %v", raw, taken[raw], want)
		}
	}
	if isPlainKind(reflect.TypeFor[int32]()) || !isPlainKind(reflect.TypeFor[Kind]()) {
		t.Error("isPlainKind: int32 is left to encoding/json, a named string is plain")
	}
}

// FuzzAssignPlain holds assignPlain to unmarshalStrict on any value.
func FuzzAssignPlain(f *testing.F) {
	for _, raw := range plainCases {
		f.Add([]byte(raw))
	}
	f.Fuzz(checkPlain)
}
