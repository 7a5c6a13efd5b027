package transfer

import (
	"errors"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// ReceiveFile receives the bytes of the file entry e, whose header has
// been read, into the partial file that open returns (normally
// Receiver.File). With resume it first offers what that file holds
// (file_have, file_sums) and reads the sender's file_offset.
//
// A failure of the file (open's error, a full disk, a digest mismatch,
// the sender giving up) is reported through h.Failed as soon as it is
// known; the rest of the file's stream is then read and dropped up to
// file_end, and the failure is returned as a *FileError. Any other error
// means the conversation is broken (a lost connection, or ErrProtocol for
// a violation by the sender); the partial file is then kept for a later
// resume.
func ReceiveFile(w Wire, e protocol.Entry, resume bool, open func() (*Part, error), h Hooks) (Result, error) {
	rx := &receiving{w: w, e: e, h: h}
	defer rx.keep()
	part, err := open()
	switch {
	case errors.Is(err, ErrBadName), errors.Is(err, ErrProtocol):
		return rx.res, protocolError("%v", err)
	case err != nil:
		if err := rx.fail(err); err != nil {
			return rx.res, err
		}
	default:
		rx.part = part
	}
	if err := rx.handshake(resume); err != nil {
		return rx.res, err
	}
	h.started(rx.res.Offset)
	return rx.data()
}

// receiving is the state of one ReceiveFile.
type receiving struct {
	w      Wire
	e      protocol.Entry
	h      Hooks
	part   *Part // nil once the file failed or was committed
	failed *FileError
	res    Result
}

// keep leaves the partial file for a resume when the conversation broke.
func (rx *receiving) keep() {
	if rx.part != nil {
		rx.part.Abort(true)
	}
}

// fail records the file's failure, drops the partial file and reports it.
func (rx *receiving) fail(err error) error {
	if rx.part != nil {
		rx.part.Abort(false)
		rx.part = nil
	}
	rx.failed = NewFileError(rx.e.Name, err)
	if rx.h.Failed != nil {
		return rx.h.Failed(rx.failed)
	}
	return nil
}

func (rx *receiving) handshake(resume bool) error {
	if !resume {
		if rx.part != nil {
			if err := rx.part.Start(0); err != nil {
				return rx.fail(err)
			}
		}
		return nil
	}
	var have int64
	var sums []byte
	if rx.part != nil {
		var err error
		if have, sums, err = rx.part.Have(); err != nil {
			if err := rx.fail(err); err != nil {
				return err
			}
			have, sums = 0, nil
		}
	}
	if err := rx.sendHave(have, sums); err != nil {
		return err
	}
	m, err := rx.w.Recv()
	if err != nil {
		return err
	}
	off, ok := m.(protocol.FileOffset)
	switch {
	case !ok:
		return protocolError("expected file_offset, got %s", m.Type())
	case off.Offset > have:
		return protocolError("file_offset %d beyond the %d bytes offered", off.Offset, have)
	}
	rx.res.Offset = off.Offset
	if rx.part != nil {
		if err := rx.part.Start(off.Offset); err != nil {
			return rx.fail(err)
		}
	}
	return nil
}

func (rx *receiving) sendHave(have int64, sums []byte) error {
	if err := rx.w.Send(protocol.FileHave{Length: have, Hash: protocol.HashBLAKE3}); err != nil {
		return err
	}
	if have == 0 {
		return nil
	}
	return rx.w.Send(protocol.Data{Stream: protocol.TypeFileSums, Body: sums})
}

// data reads file_data frames up to file_end.
func (rx *receiving) data() (Result, error) {
	want := rx.e.Length - rx.res.Offset
	for {
		m, err := rx.w.Recv()
		if err != nil {
			return rx.res, err
		}
		switch m := m.(type) {
		case protocol.Data:
			if m.Stream != protocol.TypeFileData {
				return rx.res, protocolError("unexpected %s inside a file", m.Stream)
			}
			if int64(len(m.Body)) > want-rx.res.Bytes {
				return rx.res, protocolError("%s: more than the announced %d bytes", rx.e.Name, rx.e.Length)
			}
			rx.res.Bytes += int64(len(m.Body))
			rx.h.progress(int64(len(m.Body)))
			if err := rx.write(m.Body); err != nil {
				return rx.res, err
			}
		case protocol.FileEnd:
			return rx.end(m)
		default:
			return rx.res, protocolError("unexpected %s inside a file", m.Type())
		}
	}
}

func (rx *receiving) write(b []byte) error {
	if rx.part == nil {
		return nil // the file failed: drop the rest of its stream
	}
	if err := rx.part.Write(b); err != nil {
		if errors.Is(err, ErrProtocol) {
			return err
		}
		return rx.fail(err)
	}
	return nil
}

// end handles file_end: commit, or the sender's giving up.
func (rx *receiving) end(m protocol.FileEnd) (Result, error) {
	if rx.part == nil {
		return rx.res, rx.failed
	}
	if m.Error != "" {
		code := m.Error
		if !protocol.IsFileCode(code) {
			code = protocol.CodeIO
		}
		msg := m.Message
		if msg == "" {
			msg = "the sender gave up on the file"
		}
		if err := rx.fail(&FileError{Code: code, Err: errors.New(msg)}); err != nil {
			return rx.res, err
		}
		return rx.res, rx.failed
	}
	if err := rx.part.Commit(m.Digest); err != nil {
		if errors.Is(err, ErrProtocol) {
			return rx.res, err
		}
		rx.part = nil // Commit cleaned up
		if err := rx.fail(err); err != nil {
			return rx.res, err
		}
		return rx.res, rx.failed
	}
	rx.part = nil
	return rx.res, nil
}
