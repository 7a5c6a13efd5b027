package legacy

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

// unencodable replaces, in output transcoded to GBK, each byte that is
// not UTF-8 and each character the lesson's GBK lacks, as Python's
// str.encode(errors="replace") does: the reader sees that something was
// there, and the lesson's client, which decodes GBK strictly, never fails.
const unencodable = '?'

// serverEncoding checks a Server.Encoding value: "" or "utf-8" send the
// command's bytes unchanged, "gbk" transcodes them (see toLessonGBK).
func serverEncoding(enc string) (string, error) {
	switch strings.ToLower(enc) {
	case EncodingAuto, EncodingUTF8, "utf8":
		return EncodingUTF8, nil
	case EncodingGBK, "cp936":
		return EncodingGBK, nil
	}
	return "", fmt.Errorf("%w %q for the server (want utf-8 or gbk)", ErrBadEncoding, enc)
}

// toLessonGBK is a transform.Transformer from UTF-8 to the GBK that the
// lesson's client decodes (Python's "gbk" codec): ASCII unchanged, every
// character that codec has as its two bytes, and unencodable for each
// invalid UTF-8 byte and each other character. It keeps no state between
// calls, so a character cut between two reads is simply asked for whole
// (transform.ErrShortSrc). The output is never longer than the input.
type toLessonGBK struct{}

// Reset implements transform.Transformer; there is no state to reset.
func (toLessonGBK) Reset() {}

// Transform implements transform.Transformer.
func (toLessonGBK) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	for nSrc < len(src) {
		if c := src[nSrc]; c < utf8.RuneSelf {
			if nDst >= len(dst) {
				return nDst, nSrc, transform.ErrShortDst
			}
			dst[nDst] = c
			nDst, nSrc = nDst+1, nSrc+1
			continue
		}
		if !atEOF && !utf8.FullRune(src[nSrc:]) {
			return nDst, nSrc, transform.ErrShortSrc
		}
		r, size := utf8.DecodeRune(src[nSrc:])
		code, n := lessonGBKCode(r, size)
		if nDst+n > len(dst) {
			return nDst, nSrc, transform.ErrShortDst
		}
		nDst += copy(dst[nDst:], code[:n])
		nSrc += size
	}
	return nDst, nSrc, nil
}

// lessonGBKCode returns the GBK bytes of r (decoded from size bytes of
// UTF-8), or unencodable when r was an invalid byte or is not in the
// lesson's GBK.
func lessonGBKCode(r rune, size int) (code [2]byte, n int) {
	code[0] = unencodable
	if r == utf8.RuneError && size == 1 {
		return code, 1
	}
	var src [utf8.UTFMax]byte
	m := utf8.EncodeRune(src[:], r)
	var out [4]byte
	k, _, err := gbkEncoder.Transform(out[:], src[:m], true)
	if err != nil || k != 2 || pythonGBKLacks(uint16(out[0])<<8|uint16(out[1])) {
		return code, 1
	}
	return [2]byte{out[0], out[1]}, 2
}

// gbkEncoder is x/text's GBK encoder (WHATWG's, i.e. code page 936). It
// keeps no state, so one serves every goroutine.
var gbkEncoder = simplifiedchinese.GBK.NewEncoder().Transformer

// pythonGBKLacks reports whether a two-byte code that x/text's GBK
// encoder produces is one Python's "gbk" codec cannot decode: code page
// 936's and GB 18030's additions to GBK (U+01F9 at A8BF, the ideographic
// description characters and U+303E at A989..A995, and rare ideographs
// and radicals at FE50..FE9F). TestLessonGBKDecodesInPython checks the
// whole repertoire against Python. The euro sign, which x/text encodes
// as the single byte 0x80 that Python also refuses, never reaches here:
// only two-byte codes are kept.
func pythonGBKLacks(code uint16) bool {
	return code == 0xA8BF || 0xA989 <= code && code <= 0xA995 || 0xFE50 <= code && code <= 0xFE9F
}
