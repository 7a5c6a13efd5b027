package protocol

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// encField is one member of a message as encodeHeader writes it.
type encField struct {
	index     int
	name      string // the JSON name, plain ASCII (checked when the table is built)
	omitEmpty bool
	plain     bool // string, signed integer or bool: written here, not by encoding/json
}

// encTable is how encodeHeader writes a message type: its members in
// field order, or generic when the type needs encoding/json's own rules
// (a member without a tag, an embedded struct, a tag option other than
// omitempty, a type with its own marshaller).
type encTable struct {
	fields  []encField
	generic bool
}

var encTables sync.Map // reflect.Type -> *encTable

var (
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// encTableFor builds t's table once. Building it costs a fraction of what
// encoding/json spends on a struct type the first time it meets one, which
// a one-shot client pays for every message type it sends.
func encTableFor(t reflect.Type) *encTable {
	if v, ok := encTables.Load(t); ok {
		return v.(*encTable)
	}
	et := &encTable{}
	if marshals(t) {
		et.generic = true
	}
	for i := 0; i < t.NumField() && !et.generic; i++ {
		f := t.Field(i)
		tag, has := f.Tag.Lookup("json")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if !has || f.Anonymous || name == "" || !plainJSONName(name) || opts != "" && opts != "omitempty" {
			et.generic = true
			break
		}
		plain := !marshals(f.Type)
		switch f.Type.Kind() {
		case reflect.String, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Bool:
		default:
			plain = false
		}
		et.fields = append(et.fields, encField{index: i, name: name, omitEmpty: opts == "omitempty", plain: plain})
	}
	encTables.Store(t, et)
	return et
}

// marshals reports whether t (or *t) has a marshaller of its own.
func marshals(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(jsonMarshalerType) || p.Implements(jsonMarshalerType) ||
		t.Implements(textMarshalerType) || p.Implements(textMarshalerType)
}

// plainJSONName reports whether a JSON name needs no escaping.
func plainJSONName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !plainByte(s[i]) {
			return false
		}
	}
	return true
}

// plainByte reports whether encoding/json writes c as itself inside a
// string: printable ASCII but the quote, the backslash and the three
// characters it escapes for HTML.
func plainByte(c byte) bool {
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

// appendFields appends m's members as encoding/json.Marshal writes them,
// without the braces, each preceded by a comma; ok is false when m's type
// must go through encoding/json whole (encTable.generic).
func appendFields(b []byte, m Message) (out []byte, ok bool, err error) {
	v := reflect.ValueOf(m)
	if v.Kind() != reflect.Struct {
		return b, false, nil
	}
	et := encTableFor(v.Type())
	if et.generic {
		return b, false, nil
	}
	for _, f := range et.fields {
		fv := v.Field(f.index)
		if f.omitEmpty && isEmpty(fv) {
			continue
		}
		b = append(append(append(b, `,"`...), f.name...), `":`...)
		if !f.plain {
			raw, err := json.Marshal(fv.Interface())
			if err != nil {
				return b, true, err
			}
			b = append(b, raw...)
			continue
		}
		switch fv.Kind() {
		case reflect.String:
			b = appendString(b, fv.String())
		case reflect.Bool:
			b = strconv.AppendBool(b, fv.Bool())
		default:
			b = strconv.AppendInt(b, fv.Int(), 10)
		}
	}
	return b, true, nil
}

// isEmpty is encoding/json's omitempty test.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// appendString writes s as a JSON string exactly as encoding/json does:
// itself when every byte is plainByte, else through encoding/json's own
// escaping (control characters, HTML characters, U+2028 and U+2029,
// invalid UTF-8 as U+FFFD).
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainByte(s[i]) {
			raw, _ := json.Marshal(s) // a string always marshals
			return append(b, raw...)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}
