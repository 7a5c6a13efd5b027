package transfer

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/protocol/frame"
)

// Wire carries the messages of one file's stream (PROTOCOL.md §8.2)
// between the file's header and its file_end. Send may block; Recv
// returns the next message for this file (the owner answers pings and
// refuses unrelated requests before they get here). A Data body is valid
// until the next Recv.
type Wire interface {
	Send(protocol.Message) error
	Recv() (protocol.Message, error)
}

// Result is how much of one file crossed the wire.
type Result struct {
	Offset int64 // bytes re-used from a partial file (resume)
	Bytes  int64 // file bytes sent or received in file_data frames
}

// Hooks observe one file's stream; every field may be nil. They are
// called from the goroutine running the stream.
type Hooks struct {
	// Started is called once the offset is known, before any data.
	Started func(offset int64)
	// Progress is called with the size of each file_data frame.
	Progress func(n int64)
	// Failed is called by a receiver as soon as the file has failed, even
	// though the rest of its stream is still to be read: an uploading
	// server reports the failure at once. A non-nil return is fatal.
	Failed func(*FileError) error
	// Stopped is polled by a sender between frames: true when the
	// receiver has already failed the file, so sending more is waste.
	Stopped func() bool
}

func (h Hooks) started(off int64) {
	if h.Started != nil {
		h.Started(off)
	}
}

func (h Hooks) progress(n int64) {
	if h.Progress != nil {
		h.Progress(n)
	}
}

func (h Hooks) stopped() bool { return h.Stopped != nil && h.Stopped() }

// bufPool holds frame-sized read buffers: one per file being sent, so a
// tree of small files does not allocate a MiB per file.
var bufPool = sync.Pool{New: func() any { b := make([]byte, frame.MaxBodySize); return &b }}

// abortCode is sent in file_end when a sender stops because the receiver
// already failed the file; the receiver has reported its own error.
const abortCode = protocol.CodeIO

// SendFile streams src after its header (put or entry) has been sent: with
// resume, the handshake (file_have, file_sums, file_offset) first, then
// file_data frames and file_end. A failure of this file (unreadable,
// changed while read) is sent as file_end with an error and returned as a
// *FileError; any other error means the conversation is broken.
func SendFile(w Wire, src *Source, name string, resume bool, h Hooks) (Result, error) {
	var res Result
	var ferr error // a failure of the file itself, found during the handshake
	if resume {
		have, sums, err := recvHave(w)
		if err != nil {
			return res, err
		}
		res.Offset, ferr = src.Resume(have, sums)
		if errors.Is(ferr, ErrProtocol) {
			return res, ferr
		}
		if err := w.Send(protocol.FileOffset{Offset: res.Offset}); err != nil {
			return res, err
		}
	}
	h.started(res.Offset)
	if ferr == nil {
		ferr = sendData(w, src, &res, h)
		if errors.Is(ferr, errWire) {
			return res, errors.Unwrap(ferr)
		}
	}
	var sum string
	if ferr == nil {
		sum, ferr = src.Finish()
	}
	if ferr != nil {
		fe := NewFileError(name, ferr)
		if err := w.Send(protocol.FileEnd{Error: fe.Code, Message: fe.Err.Error()}); err != nil {
			return res, err
		}
		return res, fe
	}
	return res, w.Send(protocol.FileEnd{Hash: protocol.HashBLAKE3, Digest: sum})
}

// errWire marks a send failure inside sendData (as opposed to a read error).
var errWire = errors.New("wire")

func sendData(w Wire, src *Source, res *Result, h Hooks) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	send := func(b []byte) error {
		if err := w.Send(protocol.Data{Stream: protocol.TypeFileData, Body: b}); err != nil {
			return fmt.Errorf("%w: %w", errWire, err)
		}
		res.Bytes += int64(len(b))
		h.progress(int64(len(b)))
		return nil
	}
	for {
		if h.stopped() {
			return &FileError{Code: abortCode, Err: errors.New("the receiver failed the file")}
		}
		_, err := src.ReadTo(*bp, send)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// recvHave reads the receiver's file_have and, when it offers a prefix,
// the file_sums frame that follows (copied: the caller keeps it).
func recvHave(w Wire) (int64, []byte, error) {
	m, err := w.Recv()
	if err != nil {
		return 0, nil, err
	}
	have, ok := m.(protocol.FileHave)
	if !ok {
		return 0, nil, protocolError("expected file_have, got %s", m.Type())
	}
	if have.Length == 0 {
		return 0, nil, nil
	}
	m, err = w.Recv()
	if err != nil {
		return 0, nil, err
	}
	d, ok := m.(protocol.Data)
	if !ok || d.Stream != protocol.TypeFileSums {
		return 0, nil, protocolError("expected file_sums, got %s", m.Type())
	}
	return have.Length, append([]byte(nil), d.Body...), nil
}
