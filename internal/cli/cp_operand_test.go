package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transfer"
)

// TestParseOperand: scp's rule, a colon before any slash makes a remote
// operand; brackets protect an IPv6 address.
func TestParseOperand(t *testing.T) {
	tests := []struct {
		in   string
		want operand
	}{
		{"host:path", operand{remote: true, host: "host", path: "path"}},
		{"host:", operand{remote: true, host: "host"}},
		{"user@host:/abs/p", operand{remote: true, host: "user@host", path: "/abs/p"}},
		{"[::1]:x", operand{remote: true, host: "[::1]", path: "x"}},
		{"u@[fe80::1]:x:y", operand{remote: true, host: "u@[fe80::1]", path: "x:y"}},
		{"h:a:b", operand{remote: true, host: "h", path: "a:b"}},
		{"local", operand{path: "local"}},
		{"./a:b", operand{path: "./a:b"}},
		{"/abs/a:b", operand{path: "/abs/a:b"}},
		{"dir/a:b", operand{path: "dir/a:b"}},
		{":leading", operand{path: ":leading"}},
		{"[::1]", operand{path: "[::1]"}},
	}
	for _, tt := range tests {
		if got := parseOperand(tt.in); got != tt.want {
			t.Errorf("parseOperand(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestUploadPlan(t *testing.T) {
	src := []operand{{path: "/tmp/some/file.txt"}}
	tests := []struct {
		dst      string
		isDir    bool
		srcs     []operand
		wantDir  string
		wantName string
		wantErr  bool
	}{
		{"dir", true, src, "dir", "file.txt", false},
		{"", true, src, "", "file.txt", false},
		{"new", false, src, "", "new", false},
		{"a/b/new", false, src, "a/b/", "new", false},
		{"/new", false, src, "/", "new", false},
		{"~/new", false, src, "~/", "new", false},
		{"gone/", false, src, "", "", true},
		{"", false, src, "", "", true},
		{"x", false, append(src, src[0]), "", "", true},
		{"a/..", false, src, "", "", true},
	}
	for _, tt := range tests {
		dir, items, err := uploadPlan(tt.srcs, operand{remote: true, host: "h", path: tt.dst}, "h", tt.isDir)
		if (err != nil) != tt.wantErr {
			t.Errorf("uploadPlan to %q (dir %v): error %v, want error %v", tt.dst, tt.isDir, err, tt.wantErr)
			continue
		}
		if err == nil && (dir != tt.wantDir || items[0].Name != tt.wantName) {
			t.Errorf("uploadPlan to %q (dir %v) = %q, %q; want %q, %q", tt.dst, tt.isDir, dir, items[0].Name, tt.wantDir, tt.wantName)
		}
	}
}

// TestShownNamesEscaped: every way cp shows a name or a message that may
// come from the server (error lines, bar labels, -v lines) escapes its
// control characters, so a hostile server cannot drive the terminal.
func TestShownNamesEscaped(t *testing.T) {
	const evil = "\x1b]0;owned\x07re\u009bport\x1b[2J\xff.txt"
	const shown = `\x1b]0;owned\x07re\u009bport\x1b[2J\xff.txt`
	if got, want := oneLine("h:dir/"+evil+": no such\nfile"), "h:dir/"+shown+": no such file"; got != want {
		t.Errorf("oneLine = %q, want %q", got, want)
	}
	if got := barName("/home/u/" + evil); got != shorten(shown) || strings.ContainsAny(got, "\x1b\x07\u009b") {
		t.Errorf("barName = %q, want %q", got, shorten(shown))
	}
	var out strings.Builder
	rep := &cpReport{out: &out, prefix: "rexec: ", verbose: true}
	rep.done("/home/u/"+evil, protocol.KindFile, transfer.Result{Offset: 1, Bytes: 2}, nil)
	rep.done("/home/u/"+evil, protocol.KindFile, transfer.Result{}, &transfer.FileError{Name: evil, Code: protocol.CodeIO, Err: errors.New("bad\x1b[31m")})
	want := "rexec: /home/u/" + shown + ": resumed at 1 bytes, 2 bytes on the wire\n" +
		"rexec: " + shown + `: bad\x1b[31m` + "\n"
	if out.String() != want {
		t.Errorf("report lines = %q, want %q", out.String(), want)
	}
}
