package protocol

import (
	"bytes"
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

// messageTypes returns a zero value of every message type newMessage
// knows, found from the package's own Type* constants, so a message added
// later is covered without editing this list.
func messageTypes(t testing.TB) []Message {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := gotoken.NewFileSet()
	var out []Message
	seen := map[reflect.Type]bool{}
	for _, name := range files {
		if len(name) > 8 && name[len(name)-8:] == "_test.go" {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok || len(vs.Values) != len(vs.Names) {
				return true
			}
			for i, id := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != gotoken.STRING || len(id.Name) < 5 || id.Name[:4] != "Type" {
					continue
				}
				typ, err := strconv.Unquote(lit.Value)
				if err != nil {
					continue
				}
				if m := newMessage(typ); m != nil && !seen[reflect.TypeOf(m)] {
					seen[reflect.TypeOf(m)] = true
					out = append(out, reflect.ValueOf(m).Elem().Interface().(Message))
				}
			}
			return true
		})
	}
	if len(out) < 40 {
		t.Fatalf("found %d message types, want the 40 or more the package has", len(out))
	}
	return out
}

// fillFrom sets every exported field of the struct v points to from the
// bytes of src, in turn: strings of any bytes (escapes, HTML characters,
// invalid UTF-8, U+2028), integers of either sign, booleans, and one or
// two elements in slices and maps, recursively.
func fillFrom(v reflect.Value, src []byte, pos *int) {
	next := func() byte {
		if len(src) == 0 {
			return 0
		}
		b := src[*pos%len(src)]
		*pos++
		return b
	}
	str := func() string {
		n := int(next() % 6)
		b := make([]byte, n)
		for i := range b {
			b[i] = next()
		}
		switch next() % 8 {
		case 0:
			return string(b) + "\u2028"
		case 1:
			return string(b) + "\xff\"\\\n"
		case 2:
			return string(b) + "&"
		case 3:
			return ">" + string(b)
		case 4:
			return "<" + string(b)
		}
		return string(b)
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fillFrom(v.Field(i), src, pos)
			}
		}
	case reflect.String:
		v.SetString(str())
	case reflect.Bool:
		v.SetBool(next()%2 == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := int64(next()) - 128
		if next()%3 == 0 {
			n *= 1 << 40
		}
		if !v.OverflowInt(n) {
			v.SetInt(n)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(next()))
	case reflect.Slice:
		n := int(next() % 3)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := 0; i < n; i++ {
			fillFrom(s.Index(i), src, pos)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := 0; i < int(next()%3); i++ {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fillFrom(k, src, pos)
			fillFrom(e, src, pos)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		if next()%2 == 1 {
			p := reflect.New(v.Type().Elem())
			fillFrom(p.Elem(), src, pos)
			v.Set(p)
		}
	}
}

// encodeBoth returns m's header from encodeHeader and from encoding/json.
func encodeBoth(t *testing.T, m Message) (fast, slow []byte) {
	t.Helper()
	fast, err1 := encodeHeader(m)
	slow, err2 := encodeHeaderJSON(m)
	if (err1 == nil) != (err2 == nil) {
		t.Fatalf("%T: encodeHeader error %v, encoding/json error %v", m, err1, err2)
	}
	return fast, slow
}

// TestEncodeHeaderAsJSON: for every message type, zero and filled with
// values that need every kind of escaping, encodeHeader writes the same
// bytes as encoding/json, and every type but those with a member kind
// only encoding/json writes takes the table's path.
func TestEncodeHeaderAsJSON(t *testing.T) {
	inputs := [][]byte{nil, {0}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte("<a href=\"x\">&\x00\xff\u2029"), bytes.Repeat([]byte{0xfe, 7, 1}, 40)}
	for k := byte(0); k < 8; k++ { // each special string of str, with plain bytes around it
		inputs = append(inputs, []byte{2, 'a', 'b', k, 1, 0, 3, 'c', k, k, 5})
	}
	for _, proto := range messageTypes(t) {
		if _, ok, _ := appendFields(nil, proto); !ok {
			t.Errorf("%T goes through encoding/json whole: give its members tags with at most omitempty", proto)
		}
		for _, in := range inputs {
			p := reflect.New(reflect.TypeOf(proto))
			pos := 0
			fillFrom(p.Elem(), in, &pos)
			m := p.Elem().Interface().(Message)
			if fast, slow := encodeBoth(t, m); !bytes.Equal(fast, slow) {
				t.Errorf("%T from %q:\n table %s\n json  %s", m, in, fast, slow)
			}
		}
	}
}

// FuzzEncodeHeader: whatever the field values, encodeHeader's bytes are
// encoding/json's.
func FuzzEncodeHeader(f *testing.F) {
	f.Add(uint8(0), []byte("plain"))
	f.Add(uint8(1), []byte("<&>\u2028\xff\x01\"\\"))
	f.Add(uint8(7), []byte{0, 255, 128, 3})
	types := messageTypes(f)
	f.Fuzz(func(t *testing.T, which uint8, src []byte) {
		proto := types[int(which)%len(types)]
		p := reflect.New(reflect.TypeOf(proto))
		pos := 0
		fillFrom(p.Elem(), src, &pos)
		m := p.Elem().Interface().(Message)
		if fast, slow := encodeBoth(t, m); !bytes.Equal(fast, slow) {
			t.Fatalf("%T:\n table %s\n json  %s", m, fast, slow)
		}
	})
}
