package audit

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Head is a position in a log's chain: the seq of its last record and
// that record's hash field. The hash covers the whole record, prev
// included, so it stands for every record up to Seq. Noted somewhere the
// log's writer cannot change (the journal, another host, paper), it lets
// VerifyOptions.Head detect what the file alone cannot: records cut from
// the end, or the end rewritten and re-chained.
//
// The head of an empty log is {0, Genesis}.
type Head struct {
	Seq  int
	Hash string
}

// String returns "SEQ:HASH", the form ParseHead reads and `rexec audit
// head` prints.
func (h Head) String() string { return strconv.Itoa(h.Seq) + ":" + h.Hash }

// maxSeqDigits bounds a head's seq: 18 decimal digits always fit an int64,
// far beyond any log's record count.
const maxSeqDigits = 18

// ParseHead parses "SEQ:HASH" as `rexec audit head` prints it: SEQ in
// decimal, HASH 64 hex digits (upper case is accepted and lowered).
// Surrounding spaces are ignored. Seq 0 is the empty log's head and must
// come with Genesis.
func ParseHead(s string) (Head, error) {
	s = strings.TrimSpace(s)
	seqStr, hash, ok := strings.Cut(s, ":")
	if !ok {
		return Head{}, fmt.Errorf("audit: head %q: want SEQ:HASH, as `rexec audit head` prints it", printable(s))
	}
	if seqStr == "" || len(seqStr) > maxSeqDigits || strings.Trim(seqStr, "0123456789") != "" {
		return Head{}, fmt.Errorf("audit: head %q: SEQ must be a decimal record number", printable(s))
	}
	seq, err := strconv.Atoi(seqStr)
	if err != nil {
		return Head{}, fmt.Errorf("audit: head %q: SEQ: %w", printable(s), err)
	}
	hash = strings.ToLower(hash)
	if len(hash) != hashLen || !isLowerHex(hash) {
		return Head{}, fmt.Errorf("audit: head %q: HASH must be %d hex digits (a record's hash field)", printable(s), hashLen)
	}
	if seq == 0 && hash != Genesis {
		return Head{}, fmt.Errorf("audit: head %q: seq 0 is the empty log, whose hash is %d zeros", printable(s), hashLen)
	}
	return Head{Seq: seq, Hash: hash}, nil
}

// maxQuoted bounds how much of a bad head an error message repeats.
const maxQuoted = 100

// printable shortens s for an error message; %q escapes the rest.
func printable(s string) string {
	if len(s) > maxQuoted {
		return s[:maxQuoted] + "..."
	}
	return s
}

// Head returns the position of the last record written (or found at
// Open): what the daemon logs so that cuts can be detected later.
func (l *Log) Head() Head {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Head{Seq: l.seq, Hash: l.hash}
}

// durableHead returns the head after making sure the records up to it
// are on disk: a head reported for records a crash then loses would make
// an honest log fail VerifyWith. Under SyncEvery they already are; under
// the other policies this costs one fsync per report. A failed sync fails
// the Log, as in Append, and the head of what was synced before is
// returned.
func (l *Log) durableHead() Head {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opts.Sync != SyncEvery && l.err == nil {
		if err := l.f.Sync(); err != nil {
			l.err = fmt.Errorf("%w: %s: %w", ErrFailed, l.path, err)
		}
	}
	return Head{Seq: l.seq, Hash: l.hash}
}

// ReadHead verifies the log read from r, as Verify does, and returns the
// head of the intact chain: `rexec audit head`. A broken log has no head
// to trust, so its error is Verify's.
func ReadHead(r io.Reader) (Head, error) {
	rep, err := VerifyWith(r, VerifyOptions{})
	if err != nil {
		return Head{}, err
	}
	return rep.Head, nil
}
