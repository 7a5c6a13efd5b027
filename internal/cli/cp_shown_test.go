package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transfer"
)

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
