package auth

import "encoding/binary"

// The SSH wire encoding (RFC 4251 §5) of the few data types that key
// blobs, OpenSSH key files and key proofs use: uint32 big-endian, and
// "string", a uint32 length followed by that many bytes.

// appendString appends an SSH "string": uint32 length then bytes.
func appendString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// readString reads an SSH "string" from b. The length is checked against
// what is left before anything is sliced, so a hostile length costs
// nothing.
func readString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}

// wireReader decodes a sequence of SSH wire fields. The first read that
// runs past the end marks the reader bad, and every later read returns a
// zero value, so a decoder reads all its fields and checks once. The
// returned strings alias the input.
type wireReader struct {
	b   []byte
	bad bool
}

// string reads an SSH "string".
func (r *wireReader) string() []byte {
	s, rest, ok := readString(r.b)
	r.advance(rest, ok)
	return s
}

// uint32 reads a big-endian uint32.
func (r *wireReader) uint32() uint32 {
	if r.bad || len(r.b) < 4 {
		r.advance(nil, false)
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

// rest returns whatever is left unread and leaves the reader empty.
func (r *wireReader) rest() []byte {
	b := r.b
	r.b = nil
	return b
}

// advance moves to rest after a successful read, or marks the reader bad.
func (r *wireReader) advance(rest []byte, ok bool) {
	if r.bad || !ok {
		r.bad, r.b = true, nil
		return
	}
	r.b = rest
}

// ok reports whether every read so far found its field.
func (r *wireReader) ok() bool { return !r.bad }

// done reports whether every read found its field and nothing is left,
// the check for a structure that must fill its buffer exactly.
func (r *wireReader) done() bool { return !r.bad && len(r.b) == 0 }
