package legacy

import (
	"bytes"
	"io"
	"testing"
	"unicode/utf8"
)

var decodeTests = []struct {
	name, in, want, enc string
}{
	{"empty", "", "", EncodingUTF8},
	{"ascii", "hello\n", "hello\n", EncodingUTF8},
	{"utf-8", "中文\n", "中文\n", EncodingUTF8},
	{"gbk", "\xd6\xd0\xce\xc4\n", "中文\n", EncodingGBK},
	{"gbk euro", "\x80", "€", EncodingGBK},
	{"binary", "\xff\xfe\x00\x01", "\xff\xfe\x00\x01", EncodingRaw},
	{"cut at the end", "ok\xe4", "ok\xe4", EncodingRaw},
	{"gbk cut at the end", "\xd6\xd0\xce", "\xd6\xd0\xce", EncodingRaw},
	{"literal U+FFFD", "\uFFFD", "\uFFFD", EncodingUTF8},
}

func TestPickAndDecode(t *testing.T) {
	for _, tt := range decodeTests {
		t.Run(tt.name, func(t *testing.T) {
			enc, out := decodeAuto(t, []byte(tt.in))
			if enc != tt.enc || out != tt.want {
				t.Errorf("auto decode of %q = %s %q, want %s %q", tt.in, enc, out, tt.enc, tt.want)
			}
		})
	}
}

func TestForcedEncodings(t *testing.T) {
	tests := []struct{ enc, in, want string }{
		{"utf-8", "a\xffb", "a\uFFFDb"},
		{"UTF8", "中", "中"},
		{"gbk", "\xd6\xd0", "中"},
		{"cp936", "\xd6\xd0", "中"},
		{"raw", "\xd6\xd0", "\xd6\xd0"},
	}
	for _, tt := range tests {
		enc, err := pickEncoding(tt.enc, func() io.Reader { return bytes.NewReader([]byte(tt.in)) })
		var out bytes.Buffer
		if err == nil {
			err = writeDecoded(&out, bytes.NewReader([]byte(tt.in)), enc)
		}
		if err != nil || out.String() != tt.want {
			t.Errorf("decode %q as %s = %q, %v; want %q", tt.in, tt.enc, out.String(), err, tt.want)
		}
	}
}

// TestUTF8CheckAcrossWrites: a character cut between any two writes is
// judged as if it came whole.
func TestUTF8CheckAcrossWrites(t *testing.T) {
	for _, s := range []string{"a中b", "𝄞x", "中\xff", "\xe4\xb8", "\xb8\xad"} {
		for cut := range len(s) + 1 {
			var c utf8Check
			c.Write([]byte(s[:cut]))
			c.Write([]byte(s[cut:]))
			if got, want := c.valid(), utf8.ValidString(s); got != want {
				t.Errorf("utf8Check(%q cut at %d) = %v, want %v", s, cut, got, want)
			}
		}
	}
}

// decodeAuto picks an encoding for in and decodes it.
func decodeAuto(t *testing.T, in []byte) (string, string) {
	t.Helper()
	enc, err := pickEncoding(EncodingAuto, func() io.Reader { return bytes.NewReader(in) })
	if err != nil {
		t.Fatalf("pickEncoding = %v", err)
	}
	var out bytes.Buffer
	if err := writeDecoded(&out, bytes.NewReader(in), enc); err != nil {
		t.Fatalf("writeDecoded = %v", err)
	}
	return enc, out.String()
}

func FuzzDecode(f *testing.F) {
	for _, tt := range decodeTests {
		f.Add([]byte(tt.in), uint8(len(tt.in)/2))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint8) {
		c := utf8Check{}
		at := min(int(cut), len(in))
		c.Write(in[:at])
		c.Write(in[at:])
		if c.valid() != utf8.Valid(in) {
			t.Fatalf("utf8Check cut at %d = %v, utf8.Valid = %v", at, c.valid(), utf8.Valid(in))
		}
		enc, out := decodeAuto(t, in)
		switch {
		case enc == EncodingUTF8 && out != string(in):
			t.Fatalf("valid UTF-8 %q shown as %q", in, out)
		case enc == EncodingGBK && !utf8.ValidString(out):
			t.Fatalf("GBK %q decoded to invalid UTF-8 %q", in, out)
		case enc == EncodingRaw && out != string(in):
			t.Fatalf("raw %q shown as %q", in, out)
		}
	})
}
