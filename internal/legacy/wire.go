package legacy

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// Limits of the wire format, checked before anything is allocated.
const (
	// MaxHeaderSize bounds the JSON header. The lesson's header is about
	// 80 bytes; 64 KiB leaves room for extra fields while keeping a hostile
	// prefix (up to 2 GiB) from making the client allocate it.
	MaxHeaderSize = 64 << 10
	// MaxBodySize bounds total_size on both sides: the server truncates
	// output beyond it, the client refuses to receive more. The body is
	// spooled to disk before it is checked and shown, so the bound is on
	// local disk use, not memory.
	MaxBodySize = 1 << 30
)

const (
	// prefixSize is the length prefix: Python's struct.pack('i', n), a
	// native int32, little-endian on every machine the lesson runs on.
	prefixSize = 4
	// bodyChunk is how much of the body is read or written at a time.
	bodyChunk = 64 << 10
)

// ReplyFilename is the header's "filename". The protocol sends no file; the
// lesson's server always says "a.txt", and so do we, so that header lines
// compare equal across the two servers.
const ReplyFilename = "a.txt"

// Header is the JSON header of a reply. Fields beyond these are ignored.
type Header struct {
	Filename  string `json:"filename"`
	MD5       string `json:"md5"`
	TotalSize int64  `json:"total_size"`
}

// encodeHeader returns the prefix and header announcing a body of size
// bytes with the given hex MD5, laid out as Python's json.dumps does it
// (", " and ": "), so our header lines look like the lesson server's.
func encodeHeader(md5hex string, size int64) []byte {
	name, _ := json.Marshal(ReplyFilename)
	sum, _ := json.Marshal(md5hex)
	hdr := fmt.Sprintf(`{"filename": %s, "md5": %s, "total_size": %d}`, name, sum, size)
	out := binary.LittleEndian.AppendUint32(make([]byte, 0, prefixSize+len(hdr)), uint32(len(hdr)))
	return append(out, hdr...)
}

// readReply reads one reply from r: the prefix, the header and exactly
// total_size body bytes, copied to body while their MD5 is computed.
// progress, if not nil, is called after each chunk of the body. It never
// reads past the reply, so the next reply on r stays intact.
func readReply(r io.Reader, body io.Writer, progress func(done, total int64)) (Reply, error) {
	raw, err := readHeaderBytes(r)
	if err != nil {
		return Reply{}, err
	}
	hdr, err := parseHeader(raw)
	if err != nil {
		return Reply{}, err
	}
	rep := Reply{Header: hdr, RawHeader: compactHeader(raw)}
	h := md5.New()
	pw := &progressWriter{w: io.MultiWriter(body, h), total: hdr.TotalSize, fn: progress}
	n, err := io.CopyBuffer(pw, io.LimitReader(r, hdr.TotalSize), make([]byte, min(hdr.TotalSize, bodyChunk)+1))
	rep.Size = n
	if err == nil && n < hdr.TotalSize {
		err = io.EOF
	}
	if err != nil {
		return rep, shortRead(err, n, hdr.TotalSize, "body")
	}
	rep.MD5 = hex.EncodeToString(h.Sum(nil))
	return rep, nil
}

// readHeaderBytes reads the length prefix and then exactly that many
// header bytes, refusing a size outside 1..MaxHeaderSize first.
func readHeaderBytes(r io.Reader) ([]byte, error) {
	var pre [prefixSize]byte
	if n, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, shortRead(err, int64(n), prefixSize, "length-prefix")
	}
	size := int32(binary.LittleEndian.Uint32(pre[:]))
	switch {
	case size <= 0:
		return nil, fmt.Errorf("%w: header length %d", ErrBadHeader, size)
	case size > MaxHeaderSize:
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrHeaderTooLarge, size, MaxHeaderSize)
	}
	raw := make([]byte, size)
	if n, err := io.ReadFull(r, raw); err != nil {
		return nil, shortRead(err, int64(n), int64(size), "header")
	}
	return raw, nil
}

// parseHeader decodes the JSON header. total_size is required, a whole
// number in 0..MaxBodySize; filename and md5, when present, must be
// strings (a missing md5 only means the body cannot be verified).
func parseHeader(raw []byte) (Header, error) {
	var w struct {
		Filename  string          `json:"filename"`
		MD5       string          `json:"md5"`
		TotalSize json.RawMessage `json:"total_size"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return Header{}, fmt.Errorf("%w: %v", ErrBadHeader, err)
	}
	if w.TotalSize == nil {
		return Header{}, fmt.Errorf("%w: no total_size", ErrBadHeader)
	}
	// ParseInt of the raw JSON accepts only a plain integer: not "3",
	// 3.0, 1e3 or null, none of which the lesson's client could use.
	size, err := strconv.ParseInt(string(w.TotalSize), 10, 64)
	switch {
	case err != nil || size < 0:
		return Header{}, fmt.Errorf("%w: total_size %s", ErrBadHeader, w.TotalSize)
	case size > MaxBodySize:
		return Header{}, fmt.Errorf("%w: %d bytes, limit %d", ErrBodyTooLarge, size, MaxBodySize)
	}
	return Header{Filename: w.Filename, MD5: w.MD5, TotalSize: size}, nil
}

// compactHeader returns the header JSON on one line, for printing.
func compactHeader(raw []byte) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw) // unreachable: parseHeader accepted it
	}
	return b.String()
}

// isMD5Hex reports whether s is an MD5 digest in hex. The lesson's server
// sends the placeholder "asdfasdf123123x1", which is not, and cannot be
// checked.
func isMD5Hex(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == md5.Size
}

// progressWriter passes writes on and reports the running total.
type progressWriter struct {
	w           io.Writer
	done, total int64
	fn          func(done, total int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.fn != nil && n > 0 {
		p.fn(p.done, p.total)
	}
	return n, err
}
