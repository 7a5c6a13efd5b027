package audit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Sentinel errors; errors from this package wrap them with the path and
// cause. Compare with errors.Is.
var (
	// ErrCorrupt: Open found a last line that is not an intact record, so
	// the chain cannot be continued. Verify the file, then move it aside or
	// cut the broken tail off by hand.
	ErrCorrupt = errors.New("audit: log is corrupt")
	// ErrLocked: another Log (in this or another process) has the file open.
	ErrLocked = errors.New("audit: log is in use by another writer")
	// ErrFailed: an earlier write or sync failed; the Log takes no more
	// records until it is reopened.
	ErrFailed = errors.New("audit: log failed")
	// ErrClosed: Append after Close.
	ErrClosed = errors.New("audit: log closed")
)

// SyncPolicy says when Append fsyncs the file.
type SyncPolicy int

const (
	// SyncEvery fsyncs after every record, so a record Append accepted
	// survives a crash. The zero value and the default: an fsync per
	// record is most of a record's cost on a disk (BenchmarkAppend;
	// docs/BENCHMARKS.md), and a session writes two records.
	SyncEvery SyncPolicy = iota
	// SyncEnd fsyncs after "end" and "checkpoint" records only; each one
	// also makes the records before it durable. A crash can lose the start records of
	// sessions still running.
	SyncEnd
	// SyncNever leaves flushing to the kernel.
	SyncNever
)

// Options tune a Log. The zero value is SyncEvery.
type Options struct {
	Sync SyncPolicy
}

// Log appends records to one audit file. It is safe for concurrent use;
// records are chained in the order Append is called.
type Log struct {
	path string
	opts Options

	mu sync.Mutex
	// mu guards the fields below.
	f    *os.File
	seq  int    // seq of the last record written
	prev string // SHA-256 of the last line written, or Genesis
	hash string // the last record's hash field, or Genesis
	size int64  // file size after the last record written
	err  error  // sticky: set by a failed write or sync, or Close
	// checkpointed is the seq of the last checkpoint record, when it is
	// the last record (0 otherwise): Checkpoint writes a new one only if
	// seq has moved past it.
	checkpointed int
}

// Open opens the audit log at path for appending with the default Options.
func Open(path string) (*Log, error) { return OpenWith(path, Options{}) }

// OpenWith opens (creating it 0600 if missing) the audit log at path and
// continues the chain from its last record. It fails with ErrCorrupt when
// the last line is not an intact record, and with ErrLocked when another
// Log holds the file. Only the last line is checked; Verify checks all.
func OpenWith(path string, opts Options) (*Log, error) {
	f, created, err := openFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: opening %s: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrLocked, path, err)
	}
	l := &Log{path: path, opts: opts, f: f, prev: Genesis, hash: Genesis}
	if err := l.loadTail(); err != nil {
		f.Close()
		return nil, err
	}
	if created {
		syncDir(filepath.Dir(path))
	}
	return l, nil
}

func openFile(path string) (f *os.File, created bool, err error) {
	f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return f, true, nil
	}
	if !errors.Is(err, os.ErrExist) {
		return nil, false, err
	}
	f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	return f, false, err
}

// loadTail reads the last line of the file to continue its chain.
func (l *Log) loadTail() error {
	st, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("audit: %s: %w", l.path, err)
	}
	if st.Size() == 0 {
		return nil
	}
	line, err := lastLine(l.f, st.Size())
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, l.path, err)
	}
	r, err := decode(line)
	if err != nil {
		return fmt.Errorf("%w: %s: last record: %v", ErrCorrupt, l.path, err)
	}
	if r.Seq < 1 {
		return fmt.Errorf("%w: %s: last record has seq %d", ErrCorrupt, l.path, r.Seq)
	}
	l.seq, l.prev, l.hash, l.size = r.Seq, lineHash(line), r.Hash, st.Size()
	if r.Event == EventCheckpoint {
		l.checkpointed = r.Seq
	}
	return nil
}

// lastLine returns the last line of a file of the given size, without its
// newline, reading backwards at most MaxRecordSize bytes.
func lastLine(r io.ReaderAt, size int64) ([]byte, error) {
	n := min(size, MaxRecordSize)
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, size-n); err != nil {
		return nil, err
	}
	if buf[n-1] != '\n' {
		return nil, errors.New("the last record is incomplete (no newline): cut mid-write")
	}
	buf = buf[:n-1]
	for i := len(buf) - 1; i >= 0; i-- {
		if buf[i] == '\n' {
			return buf[i+1:], nil
		}
	}
	if n == size {
		return buf, nil
	}
	return nil, errTooLong
}

// Append fills r's Seq, Prev and Hash (and Time, in UTC, when zero),
// writes it as one line and syncs it as the SyncPolicy says. A record that
// cannot be marshalled or is longer than MaxRecordSize is refused without
// harm to the Log. A failed write or sync fails the Log: this and every
// later call return an error wrapping ErrFailed and the cause.
func (l *Log) Append(r Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(r)
}

// appendLocked is Append with l.mu held.
func (l *Log) appendLocked(r Record) error {
	if l.err != nil {
		return l.err
	}
	if r.Time.IsZero() {
		r.Time = time.Now() // under mu, so filled times rise with seq
	}
	r.Time = r.Time.UTC()
	r.Seq, r.Prev = l.seq+1, l.prev
	line, err := encode(r)
	if err != nil {
		return fmt.Errorf("audit: record not written: %w", err)
	}
	if err := l.writeLocked(line, r.Event); err != nil {
		l.err = fmt.Errorf("%w: %s: %w", ErrFailed, l.path, err)
		if terr := l.f.Truncate(l.size); terr != nil {
			l.err = fmt.Errorf("%w (and cutting the partial record off failed: %v)", l.err, terr)
		}
		return l.err
	}
	l.seq, l.prev = r.Seq, lineHash(line[:len(line)-1])
	l.hash = string(line[len(line)-hashLen-3 : len(line)-3])
	l.size += int64(len(line))
	return nil
}

// writeLocked writes line with one write(2) and syncs per the policy.
func (l *Log) writeLocked(line []byte, event string) error {
	if _, err := l.f.Write(line); err != nil {
		return err
	}
	if l.opts.Sync == SyncEvery || l.opts.Sync == SyncEnd && (event == EventEnd || event == EventCheckpoint) {
		return l.f.Sync()
	}
	return nil
}

// Close syncs and closes the file. Later Appends return ErrClosed. Close is
// idempotent; only the first call can return an error.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	l.err = ErrClosed
	if err != nil {
		return fmt.Errorf("audit: closing %s: %w", l.path, err)
	}
	return nil
}

// Path returns the file the Log appends to.
func (l *Log) Path() string { return l.path }

// syncDir makes a newly created file's directory entry durable; best
// effort, since not every platform can open a directory for sync.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	d.Close()
}
