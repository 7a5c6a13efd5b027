package legacy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"

	"github.com/rexec-dev/rexec/internal/rexectest"
)

var lessonGBKTests = []struct {
	name, in, want string
}{
	{"ascii", "hello\r\n\t\x01\x7f", "hello\r\n\t\x01\x7f"},
	{"chinese", "中文", "\xd6\xd0\xce\xc4"},
	{"mixed", "a中b", "a\xd6\xd0b"},
	{"latin in gbk", "é", "\xa8\xa6"},
	{"invalid bytes", "a\xff\xfeb", "a??b"},
	{"cut character at the end", "a\xe4\xb8", "a??"},
	{"euro: cp936 only", "€", "?"},
	{"emoji: not in gbk", "😀", "?"},
	{"u+01f9: not in python's gbk", "ǹ", "?"},
	{"ideographic description: not in python's gbk", "⿰", "?"},
	{"u+fffd itself", "\uFFFD", "?"},
	{"empty", "", ""},
}

func TestToLessonGBK(t *testing.T) {
	for _, tt := range lessonGBKTests {
		got, _, err := transform.String(toLessonGBK{}, tt.in)
		if err != nil || got != tt.want {
			t.Errorf("%s: transcoding %q = %q, %v; want %q", tt.name, tt.in, got, err, tt.want)
		}
		chunked, err := io.ReadAll(transform.NewReader(iotest.OneByteReader(strings.NewReader(tt.in)), toLessonGBK{}))
		if err != nil || string(chunked) != tt.want {
			t.Errorf("%s: a byte at a time = %q, %v; want %q", tt.name, chunked, err, tt.want)
		}
	}
}

func FuzzToLessonGBK(f *testing.F) {
	for _, tt := range lessonGBKTests {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, _, err := transform.Bytes(toLessonGBK{}, in)
		if err != nil {
			t.Fatalf("transcoding %q: %v", in, err)
		}
		if len(out) > len(in) {
			t.Fatalf("%q grew to %q", in, out)
		}
		chunked, err := io.ReadAll(transform.NewReader(iotest.HalfReader(bytes.NewReader(in)), toLessonGBK{}))
		if err != nil || !bytes.Equal(chunked, out) {
			t.Fatalf("%q in pieces = %q, %v; whole %q", in, chunked, err, out)
		}
		back, _, err := transform.Bytes(simplifiedchinese.GBK.NewDecoder(), out)
		if err != nil || bytes.ContainsRune(back, utf8.RuneError) {
			t.Fatalf("%q transcoded to %q, which GBK decodes to %q, %v", in, out, back, err)
		}
		if utf8.Valid(in) && !bytes.ContainsRune(in, '?') && utf8.RuneCount(back) != utf8.RuneCount(in) {
			t.Fatalf("%q: %d characters came back as %d (%q)", in, utf8.RuneCount(in), utf8.RuneCount(back), back)
		}
	})
}

// TestLessonGBKDecodesInPython transcodes every character of Unicode's
// basic plane and checks with Python's own "gbk" codec, which the
// lesson's client uses, that each one kept decodes to itself.
func TestLessonGBKDecodesInPython(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		rexectest.SkipOrFail(t, "python3 missing: %v", err)
	}
	var in strings.Builder
	kept := 0
	for r := rune(0x80); r <= 0xFFFF; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		out, _, _ := transform.String(toLessonGBK{}, string(r))
		if out == "?" {
			continue
		}
		kept++
		fmt.Fprintf(&in, "%x %x\n", r, out)
	}
	// x/text's GBK has 21,872 two-byte characters, 81 of which Python's
	// codec lacks; a far smaller count means the transcoder lost them.
	if kept < 21000 {
		t.Fatalf("only %d characters kept", kept)
	}
	py := `import sys
bad = []
for line in sys.stdin:
    r, b = line.split()
    try:
        ok = bytes.fromhex(b).decode("gbk") == chr(int(r, 16))
    except UnicodeDecodeError:
        ok = False
    if not ok:
        bad.append(r)
print(len(bad), " ".join(bad[:20]))`
	cmd := exec.Command("python3", "-c", py)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "0 ") {
		t.Errorf("python's gbk codec refuses characters we send (count, first code points): %s %v", out, err)
	}
}

// TestServerGBKForLessonClient: with Encoding gbk the lesson's client,
// which decodes GBK, prints Chinese output correctly and survives
// invalid UTF-8 and characters GBK lacks.
func TestServerGBKForLessonClient(t *testing.T) {
	srv := startServer(t, &Server{Encoding: "gbk"})
	tests := []struct{ cmd, want string }{
		{"echo 中文", "中文\n"},
		{`printf '\377\376 \360\237\230\200 \342\202\254 \307\271 中文\n'`, "?? ? ? ? 中文\n"},
	}
	for _, tt := range tests {
		out, err := runPython(t, srv.port, "", "client_once.py", tt.cmd)
		if err != nil {
			t.Fatalf("client_once.py %q: %v", tt.cmd, err)
		}
		line, _, _ := strings.Cut(out, "\n")
		if m := pyHeader.FindStringSubmatch(line); m == nil || m[5] != "gbk" {
			t.Errorf("%q: header %q, want 'encoding': 'gbk'", tt.cmd, line)
		}
		if _, body, _ := lessonReply(t, out); body != tt.want {
			t.Errorf("%q: client_once.py printed %q, want %q", tt.cmd, body, tt.want)
		}
	}
}

// TestServerGBKStreamsSpooledOutput: output past the in-memory spool is
// transcoded as it is sent; md5 and total_size describe the GBK bytes,
// and our client decodes them by the header's "encoding".
func TestServerGBKStreamsSpooledOutput(t *testing.T) {
	srv := startServer(t, &Server{Encoding: "gbk"})
	const lines = 700000 // "中文\n" is 7 bytes of UTF-8: past memSpoolLimit
	cmd := fmt.Sprintf("yes 中文 | head -n %d", lines)
	raw, rep, err := runOurs(t, &Client{Addr: srv.addr, Encoding: "raw", HideHeader: true}, cmd)
	if err != nil || !rep.Verified || rep.Header.Encoding != "gbk" {
		t.Fatalf("Run raw = %d bytes, verified %v, encoding %q, %v", len(raw), rep.Verified, rep.Header.Encoding, err)
	}
	if want := strings.Repeat("\xd6\xd0\xce\xc4\n", lines); raw != want {
		t.Errorf("raw body: %d bytes, want %d of GBK", len(raw), len(want))
	}
	shown, _, err := runOurs(t, &Client{Addr: srv.addr, HideHeader: true}, cmd)
	if want := strings.Repeat("中文\n", lines); err != nil || shown != want {
		t.Errorf("auto-decoded body: %d bytes, %v; want %d bytes of UTF-8", len(shown), err, len(want))
	}
}

func TestServerRefusesBadEncoding(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := (&Server{Encoding: "latin1"}).Serve(context.Background(), ln); !errors.Is(err, ErrBadEncoding) {
		t.Errorf("Serve with Encoding latin1 = %v, want ErrBadEncoding", err)
	}
}
