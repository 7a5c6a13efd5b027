package legacy

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Values of Client.Encoding.
const (
	EncodingAuto = ""      // UTF-8 if valid, else GBK if valid, else raw
	EncodingUTF8 = "utf-8" // decode as UTF-8, invalid bytes become U+FFFD
	EncodingGBK  = "gbk"   // decode as GBK (code page 936), as the lesson does
	EncodingRaw  = "raw"   // write the bytes unchanged
)

// normEncoding maps an Encoding value, case-insensitively and with the
// aliases utf8 and cp936, to one of the constants above.
func normEncoding(enc string) (string, error) {
	switch strings.ToLower(enc) {
	case EncodingAuto:
		return EncodingAuto, nil
	case EncodingUTF8, "utf8":
		return EncodingUTF8, nil
	case EncodingGBK, "cp936":
		return EncodingGBK, nil
	case EncodingRaw:
		return EncodingRaw, nil
	}
	return "", fmt.Errorf("%w %q (want utf-8, gbk or raw)", ErrBadEncoding, enc)
}

// pickEncoding resolves want; for EncodingAuto it reads the whole body
// through open (once or twice) to choose. Checking all of it, not a
// prefix, is why the body is spooled before it is shown: a GBK character
// late in a long ASCII output would otherwise be shown as garbage.
func pickEncoding(want string, open func() io.Reader) (string, error) {
	enc, err := normEncoding(want)
	if err != nil || enc != EncodingAuto {
		return enc, err
	}
	var u utf8Check
	if _, err := io.Copy(&u, open()); err != nil {
		return "", err
	}
	if u.valid() {
		return EncodingUTF8, nil
	}
	var g replacementCheck
	w := transform.NewWriter(&g, simplifiedchinese.GBK.NewDecoder())
	if _, err := io.Copy(w, open()); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	if !g.found {
		return EncodingGBK, nil
	}
	return EncodingRaw, nil
}

// writeDecoded copies src to out, decoded from enc into UTF-8 by one
// streaming decoder, so characters cut across reads come out whole.
func writeDecoded(out io.Writer, src io.Reader, enc string) error {
	var t transform.Transformer
	switch enc {
	case EncodingGBK:
		t = simplifiedchinese.GBK.NewDecoder()
	case EncodingUTF8:
		t = unicode.UTF8.NewDecoder()
	default:
		_, err := io.Copy(out, src)
		return err
	}
	w := transform.NewWriter(out, t)
	if _, err := io.Copy(w, src); err != nil {
		return err
	}
	return w.Close()
}

// utf8Check is a writer that tells whether everything written is valid
// UTF-8, carrying a character cut between two writes over to the next.
type utf8Check struct {
	carry, buf []byte
	bad        bool
}

func (c *utf8Check) Write(p []byte) (int, error) {
	if c.bad {
		return len(p), nil
	}
	c.buf = append(append(c.buf[:0], c.carry...), p...)
	cut := incompleteTail(c.buf)
	c.carry = append(c.carry[:0], c.buf[cut:]...)
	c.bad = !utf8.Valid(c.buf[:cut])
	return len(p), nil
}

// valid reports whether all bytes written were UTF-8, none left cut.
func (c *utf8Check) valid() bool { return !c.bad && len(c.carry) == 0 }

// incompleteTail returns where a character cut off at the end of b starts,
// or len(b) when b does not end inside one.
func incompleteTail(b []byte) int {
	for i := len(b) - 1; i >= 0 && i > len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return len(b)
			}
			return i
		}
	}
	return len(b)
}

// replacementCheck is a writer of decoder output that notes whether a
// U+FFFD, the decoder's mark for an invalid sequence, went through. GBK
// has no code for U+FFFD itself, so each one marks invalid input.
type replacementCheck struct {
	tail  []byte // last bytes of the previous write, for a mark cut in two
	found bool
}

var replacementUTF8 = []byte(string(utf8.RuneError))

func (c *replacementCheck) Write(p []byte) (int, error) {
	if c.found {
		return len(p), nil
	}
	joined := append(c.tail, p...)
	c.found = bytes.Contains(joined, replacementUTF8)
	c.tail = append(c.tail[:0], joined[max(0, len(joined)-len(replacementUTF8)+1):]...)
	return len(p), nil
}
