package protocol

import (
	"strings"
	"unicode/utf8"
)

// Printable returns s as it may be shown on a terminal: every C0 control
// character (U+0000–U+001F, newline and tab included), DEL and every
// invalid UTF-8 byte become \xNN, every C1 control (U+0080–U+009F)
// becomes \u00NN; everything else is kept. Names, messages and link
// targets come from the peer, and a hostile one could otherwise hide
// escape sequences in them that move the cursor, rewrite what is on the
// screen or set the window title (docs/SECURITY.md, "File requests").
//
// Every line rexec writes that may carry such text goes through this one
// function. It is idempotent (its result has nothing left to escape), so
// text escaped once may pass through it again unchanged; a backslash is
// kept as it is, so a name holding the four characters `\x1b` reads like
// one holding ESC, which is harmless on a terminal.
func Printable(s string) string {
	if !needsEscape(s) {
		return s
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1, r < 0x20, r == 0x7f:
			c := s[i]
			b.WriteString(`\x`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		case r >= 0x80 && r <= 0x9f:
			b.WriteString(`\u00`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&0xf])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// needsEscape reports whether Printable would change s.
func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return true
		case c < utf8.RuneSelf:
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || (r >= 0x80 && r <= 0x9f) {
			return true
		}
		i += n
	}
	return false
}
