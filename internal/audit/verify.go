package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
)

// BrokenError names the first record Verify found broken. Line is its
// 1-based line number; Seq is the seq it claims, or the seq it should have
// had when it cannot be parsed. Reason says what is wrong in a few words.
type BrokenError struct {
	Line   int
	Seq    int
	Reason string
}

// Error returns "audit: record SEQ (line LINE): REASON".
func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit: record %d (line %d): %s", e.Seq, e.Line, e.Reason)
}

// Verify reads an audit log to its end and checks that every line is an
// intact record (its own hash matches), that seq starts at 1 and rises by
// one, and that every prev is the hash of the line before (Genesis for the
// first). It returns the number of intact records read; on the first
// broken one it stops with a *BrokenError, and on a read error it returns
// that error. An empty log verifies with n = 0.
//
// From the file alone Verify cannot tell a log cut at a record boundary,
// or rewritten from some record on with every hash recomputed, from an
// honest shorter log: VerifyWith with a Head noted earlier, or a Key whose
// checkpoints the rewrite would have to forge, can.
func Verify(r io.Reader) (n int, err error) {
	rep, err := VerifyWith(r, VerifyOptions{})
	return rep.Records, err
}

// VerifyOptions are the anchors VerifyWith checks the chain against, from
// outside the file. The zero value checks the chain alone, as Verify.
type VerifyOptions struct {
	// Head, when non-nil, must be in the log: record Head.Seq exists and
	// its hash field is Head.Hash. A log cut before that record, or
	// rewritten at or before it, fails. Records after it are fine (the
	// log grew).
	Head *Head
	// Key, when non-nil, must verify the signature of every checkpoint
	// record (Log.Checkpoint).
	Key ed25519.PublicKey
}

// Report is what VerifyWith found, valid as far as Records when it
// returns an error.
type Report struct {
	// Records is the number of intact records read.
	Records int
	// Head is the last intact record's position; {0, Genesis} for none.
	Head Head
	// Checkpoints counts the checkpoint records whose signature Key
	// verified, and LastCheckpoint is the seq of the last of them (0:
	// none). Records after LastCheckpoint are signed by no checkpoint:
	// only a Head noted elsewhere vouches for them.
	Checkpoints    int
	LastCheckpoint int
}

// VerifyWith checks the chain as Verify does and, in the same pass, the
// anchors in opts; each failure is a *BrokenError naming the record.
func VerifyWith(r io.Reader, opts VerifyOptions) (Report, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	rep := Report{Head: Head{Hash: Genesis}}
	prev := Genesis
	for line := 1; ; line++ {
		n := rep.Records
		b, err := readLine(br)
		if errors.Is(err, io.EOF) {
			if opts.Head != nil && opts.Head.Seq > n {
				return rep, &BrokenError{Line: line, Seq: opts.Head.Seq, Reason: fmt.Sprintf(
					"missing: the log ends at record %d, before the head %s (records were cut from the end)", n, opts.Head)}
			}
			return rep, nil
		}
		broken := func(seq int, reason string) error {
			return &BrokenError{Line: line, Seq: seq, Reason: reason}
		}
		if err != nil {
			var le lineError
			if errors.As(err, &le) {
				return rep, broken(n+1, string(le))
			}
			return rep, fmt.Errorf("audit: reading line %d: %w", line, err)
		}
		rec, derr := decode(b)
		switch {
		case derr != nil:
			seq := rec.Seq
			if seq == 0 {
				seq = n + 1
			}
			return rep, broken(seq, derr.Error())
		case rec.Seq != n+1:
			return rep, broken(rec.Seq, fmt.Sprintf("seq %d where %d was due (a record is missing or out of order)", rec.Seq, n+1))
		case rec.Prev != prev && n == 0:
			return rep, broken(rec.Seq, "first record's prev is not the genesis value (the start of the log is missing)")
		case rec.Prev != prev:
			return rep, broken(rec.Seq, fmt.Sprintf("prev does not match record %d (that record was changed, or one is missing)", n))
		case opts.Head != nil && rec.Seq == opts.Head.Seq && rec.Hash != opts.Head.Hash:
			return rep, broken(rec.Seq, fmt.Sprintf("hash %s is not the head's %s (the log was rewritten at or before this record)",
				rec.Hash, opts.Head.Hash))
		case opts.Key != nil && rec.Event == EventCheckpoint:
			if err := checkCheckpoint(rec, opts.Key); err != nil {
				return rep, broken(rec.Seq, err.Error())
			}
			rep.Checkpoints++
			rep.LastCheckpoint = rec.Seq
		}
		prev = lineHash(b)
		rep.Records++
		rep.Head = Head{Seq: rec.Seq, Hash: rec.Hash}
	}
}

// lineError is a malformed line, as opposed to a failed read.
type lineError string

func (e lineError) Error() string { return string(e) }

// readLine returns the next line without its newline, io.EOF at a clean
// end, and a lineError for a line that is too long or has no newline.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > MaxRecordSize {
			return nil, lineError(errTooLong.Error())
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return bytes.TrimSuffix(line, []byte{'\n'}), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) == 0:
			return nil, io.EOF
		case errors.Is(err, io.EOF):
			return nil, lineError("incomplete record (no newline): the log was cut")
		default:
			return nil, err
		}
	}
}
