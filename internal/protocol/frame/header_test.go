package frame

import "testing"

// TestDecodeFlat: the fast path takes the headers rexec sends (a tree's
// batches carry thousands) and leaves everything else to the general
// path, whose verdict FuzzHeaderDifferential checks for both.
func TestDecodeFlat(t *testing.T) {
	for _, tt := range []struct {
		hdr  string
		flat bool
	}{
		{`{}`, true},
		{`{"type":"entry","name":"d/f0001","kind":"file","length":4096,"mode":420,"mtime_ns":1577934245123456789}`, true},
		{`{"type":"file_data","size":4096}`, true},
		{`{"type":"file_end","hash":"blake3","digest":"528be7456a5836616aab5d650030b2d1a677cb18313d3372fe2b6772221eb1c7"}`, true},
		{`{"type":"get","path":"/srv/日本","recursive":true,"batch":false}`, true},
		{`{ "type" : "x" , "size" : -0 }`, true},
		{`{"a":"\n"}`, false},
		{`{"a":[1]}`, true},
		{`{"type":"hello","version":1,"features":["jobs","resume"]}`, true},
		{`{"type":"exec","argv":["sh","-c","echo $X"],"resume":true}`, true},
		{`{"a":[ ]}`, true},
		{`{"a":[ 1 , "b" ,true ]}`, true},
		{`{"a":[[1]]}`, false},
		{`{"a":[{}]}`, false},
		{`{"a":[1,]}`, false},
		{`{"a":[,1]}`, false},
		{`{"a":[1 2]}`, false},
		{`{"a":[1}`, false},
		{`{"a":1]}`, false},
		{`{"a":[null]}`, false},
		{`{"a":["\n"]}`, false},
		{`{"size":[1]}`, false},
		{`{"a":[1],"a":[1]}`, false},
		{`{"a":[1.5]}`, false},
		{`{"a":[`, false},
		{`{"a":[}`, false},
		{`{"a":{}}`, false},
		{`{"a":null}`, false},
		{`{"a":1.5}`, false},
		{`{"a":1e3}`, false},
		{`{"a":01}`, false},
		{`{"a":1,"a":1}`, false},
		{`{"size":1048577}`, false},
		{`{"size":-1}`, false},
		{`{"size":"1"}`, false},
		{`{"a":1,}`, false},
		{`{"a":truex}`, false},
		{"{\"a\":\"\x01\"}", false},
		{"{\"a\":\"\xff\"}", false},
		{`{"a":1} `, false},
	} {
		fields, size, ok := decodeFlat([]byte(tt.hdr))
		if ok != tt.flat {
			t.Errorf("decodeFlat(%q) ok = %v, want %v", tt.hdr, ok, tt.flat)
			continue
		}
		if err := differential([]byte(tt.hdr)); err != nil {
			t.Error(err)
		}
		if ok && len(fields) == 0 && tt.hdr != `{}` || size < 0 {
			t.Errorf("decodeFlat(%q) = %v, %d", tt.hdr, fields, size)
		}
	}
}
