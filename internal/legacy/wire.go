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
// The lesson's server sends the first three; ours adds ExitCode, Signal
// and Encoding, which the lesson's client prints with the rest of the
// header dict and otherwise ignores.
type Header struct {
	Filename  string `json:"filename"`
	MD5       string `json:"md5"`
	TotalSize int64  `json:"total_size"`
	// ExitCode is the command's exit status, as the rexec protocol's exit
	// code (docs/PROTOCOL.md §4.4): the exit code; 128+N when signal N
	// killed the command; 124 when the server's command timeout did; 127
	// when it could not start. nil when the server sent none, as the
	// lesson's server.py does not.
	ExitCode *int `json:"exit_code,omitempty"`
	// Signal names the signal that killed the command, without "SIG"
	// ("KILL"), or its number when it has no name; "" when none did.
	Signal string `json:"signal,omitempty"`
	// Encoding is "gbk" when the server transcoded the output from UTF-8
	// to GBK (rexec serve --legacy-encoding gbk); "" when it sent the
	// command's bytes unchanged.
	Encoding string `json:"encoding,omitempty"`
}

// encodeHeader returns the prefix and h as JSON, laid out as Python's
// json.dumps does it (", " and ": "), so our header lines look like the
// lesson server's; Filename is always ReplyFilename. Optional fields
// follow the lesson's three when set.
func encodeHeader(h Header) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"filename": %s, "md5": %s, "total_size": %d`, jsonString(ReplyFilename), jsonString(h.MD5), h.TotalSize)
	if h.ExitCode != nil {
		fmt.Fprintf(&b, `, "exit_code": %d`, *h.ExitCode)
	}
	if h.Signal != "" {
		fmt.Fprintf(&b, `, "signal": %s`, jsonString(h.Signal))
	}
	if h.Encoding != "" {
		fmt.Fprintf(&b, `, "encoding": %s`, jsonString(h.Encoding))
	}
	b.WriteString("}")
	out := binary.LittleEndian.AppendUint32(make([]byte, 0, prefixSize+b.Len()), uint32(b.Len()))
	return append(out, b.Bytes()...)
}

// jsonString is s as a JSON string. Header strings are ASCII (hex digits,
// signal names, encoding names), so this matches Python's escaping too.
func jsonString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
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
// number in 0..MaxBodySize; filename, md5, signal and encoding, when
// present, must be strings (a missing md5 only means the body cannot be
// verified); exit_code, when present, a whole number that fits 32 bits.
func parseHeader(raw []byte) (Header, error) {
	var w struct {
		Filename  string          `json:"filename"`
		MD5       string          `json:"md5"`
		TotalSize json.RawMessage `json:"total_size"`
		ExitCode  json.RawMessage `json:"exit_code"`
		Signal    string          `json:"signal"`
		Encoding  string          `json:"encoding"`
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
	h := Header{Filename: w.Filename, MD5: w.MD5, TotalSize: size, Signal: w.Signal, Encoding: w.Encoding}
	if w.ExitCode != nil {
		code, err := strconv.ParseInt(string(w.ExitCode), 10, 32)
		if err != nil {
			return Header{}, fmt.Errorf("%w: exit_code %s", ErrBadHeader, w.ExitCode)
		}
		h.ExitCode = new(int(code))
	}
	return h, nil
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
