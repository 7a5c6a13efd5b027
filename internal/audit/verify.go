package audit

import (
	"bufio"
	"bytes"
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
func Verify(r io.Reader) (n int, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	prev := Genesis
	for line := 1; ; line++ {
		b, err := readLine(br)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		broken := func(seq int, reason string) error {
			return &BrokenError{Line: line, Seq: seq, Reason: reason}
		}
		if err != nil {
			var le lineError
			if errors.As(err, &le) {
				return n, broken(n+1, string(le))
			}
			return n, fmt.Errorf("audit: reading line %d: %w", line, err)
		}
		rec, derr := decode(b)
		switch {
		case derr != nil:
			seq := rec.Seq
			if seq == 0 {
				seq = n + 1
			}
			return n, broken(seq, derr.Error())
		case rec.Seq != n+1:
			return n, broken(rec.Seq, fmt.Sprintf("seq %d where %d was due (a record is missing or out of order)", rec.Seq, n+1))
		case rec.Prev != prev && n == 0:
			return n, broken(rec.Seq, "first record's prev is not the genesis value (the start of the log is missing)")
		case rec.Prev != prev:
			return n, broken(rec.Seq, fmt.Sprintf("prev does not match record %d (that record was changed, or one is missing)", n))
		}
		prev = lineHash(b)
		n++
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
