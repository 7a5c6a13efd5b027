package cli

import (
	"fmt"
	"io"
)

// escapeAction is what a typed escape sequence asks for.
type escapeAction int

const (
	escapeNone       escapeAction = iota
	escapeDisconnect              // ~.  drop the connection
	escapeHelp                    // ~?  list the escapes
)

// escapeHelpText lists the escapes; lines end in \r\n since the local
// terminal is in raw mode when it is shown.
const escapeHelpText = "Supported escape sequences:\r\n" +
	" %[1]c.   - terminate connection\r\n" +
	" %[1]c?   - this message\r\n" +
	" %[1]c%[1]c   - send the escape character by typing it twice\r\n" +
	"(Note that escapes are only recognized immediately after newline.)\r\n"

// escapeFilter recognizes ssh-style escapes in typed input: the escape
// character (normally '~') right after a newline, or first of all, followed
// by '.', '?' or itself. Everything else passes through unchanged, in order.
// The zero value is not usable: use newEscapeFilter.
type escapeFilter struct {
	esc       byte
	lineStart bool // the next byte starts a line
	pending   bool // an escape character was seen at a line start
}

func newEscapeFilter(esc byte) *escapeFilter {
	return &escapeFilter{esc: esc, lineStart: true}
}

// filter appends to out the bytes of in that go to the remote side, and
// returns the first action found; bytes after an action are not consumed
// (n says how many were).
func (f *escapeFilter) filter(out, in []byte) (_ []byte, n int, act escapeAction) {
	for i, b := range in {
		if f.pending {
			f.pending = false
			switch b {
			case '.':
				return out, i + 1, escapeDisconnect
			case '?':
				f.lineStart = true
				return out, i + 1, escapeHelp
			case f.esc:
				out = append(out, b)
				f.lineStart = false
				continue
			}
			out = append(out, f.esc) // not an escape: pass both through
		} else if f.lineStart && b == f.esc {
			f.pending = true
			continue
		}
		out = append(out, b)
		f.lineStart = b == '\r' || b == '\n'
	}
	return out, len(in), escapeNone
}

// escapeReader applies an escapeFilter to a terminal's input.
type escapeReader struct {
	r          io.Reader
	f          *escapeFilter
	stderr     io.Writer
	disconnect func()
	buf        []byte
	out        []byte // filtered bytes not yet returned
	closed     bool   // ~. was typed: nothing more is read
}

func newEscapeReader(r io.Reader, esc byte, stderr io.Writer, disconnect func()) *escapeReader {
	return &escapeReader{r: r, f: newEscapeFilter(esc), stderr: stderr, disconnect: disconnect,
		buf: make([]byte, 4096)}
}

// Read returns filtered input; after ~. it returns what came before it,
// then io.EOF for good.
func (e *escapeReader) Read(p []byte) (int, error) {
	for len(e.out) == 0 {
		if e.closed {
			return 0, io.EOF
		}
		n, err := e.r.Read(e.buf)
		in := e.buf[:n]
		for len(in) > 0 {
			var used int
			var act escapeAction
			e.out, used, act = e.f.filter(e.out, in)
			in = in[used:]
			switch act {
			case escapeDisconnect:
				e.disconnect()
				e.closed, in = true, nil
			case escapeHelp:
				fmt.Fprintf(e.stderr, escapeHelpText, e.f.esc)
			}
		}
		if err != nil && len(e.out) == 0 {
			return 0, err
		}
		if err != nil || e.closed {
			break
		}
	}
	n := copy(p, e.out)
	e.out = e.out[n:]
	return n, nil
}

// parseEscape reads the -e/--escape flag: one character, or "none".
func parseEscape(s string) (byte, bool, error) {
	switch {
	case s == "none":
		return 0, false, nil
	case len(s) == 1:
		return s[0], true, nil
	case len(s) == 2 && s[0] == '^' && s[1] >= '@' && s[1] <= '_':
		return s[1] - '@', true, nil
	}
	return 0, false, fmt.Errorf("escape character must be one character, ^X or none, not %q", s)
}
