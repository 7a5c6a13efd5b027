package protocol

import (
	"fmt"
	"io"
	"reflect"

	"github.com/rexec-dev/rexec/internal/protocol/frame"
)

// The link between a root daemon and the helper that serves one
// connection's file requests as another account (docs/ARCHITECTURE.md,
// "Accounts"). Over it go the ordinary messages of a file request, in
// both directions, and these three, which exist on the link only: Decode
// (every network connection) refuses them as unknown types; a link Conn
// (NewLinkConn) accepts them as well as every other type.
const (
	TypeXferRead  = "xfer_read"
	TypeXferAbort = "xfer_abort"
	TypeXferDone  = "xfer_done"
)

// XferRead asks the daemon for the client's next frame: the helper's file
// code wants to read. The daemon answers with that frame, or XferAbort.
type XferRead struct{}

// XferAbort answers XferRead when the client's next frame could not be
// had: Busy says it was a new request inside a file's stream (the busy
// violation), else the connection failed (Error says how).
type XferAbort struct {
	Busy  bool   `json:"busy,omitempty"`
	Error string `json:"error,omitempty"`
}

// XferDone ends the helper's answer to one file request. Fatal, when
// set, is why the request ended the connection ("busy", "protocol" with
// Message, or "closed"); Failed is the first failure to record in the
// audit log; BytesIn and BytesOut are the file bytes each way.
type XferDone struct {
	Fatal    string `json:"fatal,omitempty"`
	Message  string `json:"message,omitempty"`
	Failed   string `json:"failed,omitempty"`
	BytesIn  int64  `json:"bytes_in,omitempty"`
	BytesOut int64  `json:"bytes_out,omitempty"`
}

// Type returns "xfer_read".
func (XferRead) Type() string { return TypeXferRead }

// Type returns "xfer_abort".
func (XferAbort) Type() string { return TypeXferAbort }

// Type returns "xfer_done".
func (XferDone) Type() string { return TypeXferDone }

// NewLinkConn wraps the daemon's end, or the helper's, of a helper link:
// like NewConn, and it decodes the link's own messages too.
func NewLinkConn(rw io.ReadWriteCloser) *Conn {
	c := NewConn(rw)
	c.link = true
	return c
}

// decodeLink decodes a link frame: the link's messages, else as Decode.
func decodeLink(f frame.Frame) (Message, error) {
	typ, err := typeOf(f.Fields)
	if err != nil {
		return nil, err
	}
	var m Message
	switch typ {
	case TypeXferRead:
		m = &XferRead{}
	case TypeXferAbort:
		m = &XferAbort{}
	case TypeXferDone:
		m = &XferDone{}
	default:
		return Decode(f)
	}
	if len(f.Body) != 0 {
		return nil, fmt.Errorf("%w: %s carries no body", ErrBadField, typ)
	}
	if err := fill(m, f.Fields); err != nil {
		return nil, err
	}
	return reflect.ValueOf(m).Elem().Interface().(Message), nil
}
