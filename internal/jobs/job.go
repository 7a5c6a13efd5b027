package jobs

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// metaFile is the name of a job's metadata in its directory.
const metaFile = "meta.json"

// Job is one detached job: its metadata and its two spools. Write and
// Finish are for the one goroutine that runs it; everything else is
// safe for any number of readers.
type Job struct {
	s   *Store
	dir string

	mu      sync.Mutex // guards the fields below
	meta    Meta
	spools  [2]spool
	changed chan struct{} // closed and replaced at every write and at Finish
	removed bool
}

// Info is a job's state at one moment.
type Info struct {
	Meta
	// Kept is, per stream, the first offset still kept; Written the
	// offset after the last byte written (every byte the job printed).
	Kept, Written [2]int64
}

// Running reports whether the job has not finished.
func (i Info) Running() bool { return i.Meta.End == nil }

// segment is one spool file: bytes [start, start+size) of its stream.
type segment struct{ start, size int64 }

// spool is one stream's segments, oldest first; the last is written to.
type spool struct {
	segs []segment
	w    *os.File // the last segment, open while the job runs
}

func (sp *spool) first() int64 {
	if len(sp.segs) == 0 {
		return 0
	}
	return sp.segs[0].start
}

func (sp *spool) end() int64 {
	if len(sp.segs) == 0 {
		return 0
	}
	l := sp.segs[len(sp.segs)-1]
	return l.start + l.size
}

func (sp *spool) size() int64 {
	var n int64
	for _, s := range sp.segs {
		n += s.size
	}
	return n
}

func segName(stream string, start int64) string { return fmt.Sprintf("%s.%016x", stream, start) }

// parseSegName reads the start offset from a segment file's name
// (segName), for stream; false for any other name.
func parseSegName(name, stream string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, stream+".")
	if !ok || len(rest) != 16 {
		return 0, false
	}
	start, err := strconv.ParseUint(rest, 16, 64)
	if err != nil || start > maxOffset || segName(stream, int64(start)) != name {
		return 0, false
	}
	return int64(start), true
}

// maxOffset bounds offsets read back from names (2^62, as protocol's
// MaxLength), far from overflow.
const maxOffset = 1 << 62

// load finds a stream's segments in dir after a restart.
func (sp *spool) load(dir, stream string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		start, ok := parseSegName(e.Name(), stream)
		if !ok {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		sp.segs = append(sp.segs, segment{start: start, size: fi.Size()})
	}
	sort.Slice(sp.segs, func(a, b int) bool { return sp.segs[a].start < sp.segs[b].start })
	// A crash can leave a segment shorter than the next one's start
	// says: the bytes in between are lost like dropped ones, so keep
	// only the run of segments that ends at the last one.
	for i := len(sp.segs) - 1; i > 0; i-- {
		if sp.segs[i-1].start+sp.segs[i-1].size != sp.segs[i].start {
			sp.segs = sp.segs[i:]
			break
		}
	}
	return nil
}

// ID is the job's id.
func (j *Job) ID() string { return j.meta.ID }

// Info returns the job's state now.
func (j *Job) Info() Info {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.infoLocked()
}

func (j *Job) infoLocked() Info {
	in := Info{Meta: j.meta}
	if j.meta.End != nil {
		e := *j.meta.End
		in.Meta.End = &e
	}
	for i := range j.spools {
		in.Kept[i], in.Written[i] = j.spools[i].first(), j.spools[i].end()
	}
	return in
}

// Changed returns a channel closed at the next write or at Finish: a
// reader that caught up waits on it (taken before it looked).
func (j *Job) Changed() <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.changed
}

func (j *Job) notifyLocked() {
	close(j.changed)
	j.changed = make(chan struct{})
}

func (j *Job) onDisk() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.onDiskLocked()
}

func (j *Job) onDiskLocked() int64 { return j.spools[Stdout].size() + j.spools[Stderr].size() }

// Write appends b to a stream's spool, dropping the job's oldest
// segments as needed to stay within its cap.
func (j *Job) Write(stream int, b []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.meta.End != nil || j.removed {
		return fmt.Errorf("jobs: %s: write after the end", j.meta.ID)
	}
	segSize := j.s.SegmentSize()
	sp := &j.spools[stream]
	for len(b) > 0 {
		if sp.w == nil || sp.segs[len(sp.segs)-1].size >= segSize {
			if err := j.rotateLocked(stream); err != nil {
				return err
			}
		}
		last := &sp.segs[len(sp.segs)-1]
		n := min(int64(len(b)), segSize-last.size)
		for j.onDiskLocked()+n > j.s.cfg.JobMax && j.dropOldestLocked() {
		}
		w, err := sp.w.Write(b[:n])
		last.size += int64(w)
		if err != nil {
			j.notifyLocked()
			return fmt.Errorf("jobs: %s: %w", j.meta.ID, err)
		}
		b = b[n:]
	}
	j.notifyLocked()
	return nil
}

// rotateLocked starts a new segment of stream at its end.
func (j *Job) rotateLocked(stream int) error {
	sp := &j.spools[stream]
	if sp.w != nil {
		sp.w.Close()
		sp.w = nil
	}
	start := sp.end()
	f, err := os.OpenFile(filepath.Join(j.dir, segName(streamNames[stream], start)), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("jobs: %s: %w", j.meta.ID, err)
	}
	sp.w = f
	sp.segs = append(sp.segs, segment{start: start})
	return nil
}

// dropOldestLocked removes the oldest segment of the stream holding more
// bytes (never a stream's last segment); false when none can go.
func (j *Job) dropOldestLocked() bool {
	order := []int{Stdout, Stderr}
	if j.spools[Stderr].size() > j.spools[Stdout].size() {
		order = []int{Stderr, Stdout}
	}
	for _, st := range order {
		sp := &j.spools[st]
		if len(sp.segs) < 2 {
			continue
		}
		_ = os.Remove(filepath.Join(j.dir, segName(streamNames[st], sp.segs[0].start)))
		sp.segs = sp.segs[1:]
		return true
	}
	return false
}

// ReadAt reads bytes of stream from off into p, from one segment (so
// possibly fewer than len(p) though more follow). It fails with
// ErrDropped below the first byte kept, and with io.EOF at the end of a
// finished job's stream or ErrPastEnd at the end of a running one's (or
// past either). A reader going through a stream in order should use a
// Reader, which keeps the segment open between reads.
func (j *Job) ReadAt(stream int, off int64, p []byte) (int, error) {
	r := j.NewReader(stream)
	defer r.Close()
	return r.ReadAt(off, p)
}

// NewReader returns a Reader of stream. The caller closes it.
func (j *Job) NewReader(stream int) *Reader { return &Reader{j: j, stream: stream} }

// Reader reads one stream of a job at the offsets its caller asks for,
// keeping the segment file it last read open: a reader going through
// the stream in order (an attach) costs one read per chunk, not an open
// and a close as well. It is for one goroutine.
type Reader struct {
	j      *Job
	stream int
	f      *os.File // the segment starting at start, or nil
	start  int64
}

// ReadAt is Job.ReadAt through r's open segment. A segment dropped over
// the cap is closed at the next read that finds it gone, so a reader
// holds a dropped segment's disk space only while it reads it.
func (r *Reader) ReadAt(off int64, p []byte) (int, error) {
	j, name := r.j, streamNames[r.stream]
	j.mu.Lock()
	sp := &j.spools[r.stream]
	first, end, ended := sp.first(), sp.end(), j.meta.End != nil
	var seg segment
	found := false
	for _, s := range sp.segs {
		if off >= s.start && off < s.start+s.size {
			seg, found = s, true
			break
		}
	}
	j.mu.Unlock()
	// The open segment goes when it was dropped or the read is in
	// another; at the end of a running stream the reader waits in it.
	if r.f != nil && (r.start < first || (found && seg.start != r.start)) {
		r.Close()
	}
	switch {
	case off < first:
		return 0, fmt.Errorf("%w: %s bytes [%d, %d)", ErrDropped, name, off, first)
	case off == end && ended:
		return 0, io.EOF
	case off >= end:
		return 0, fmt.Errorf("%w: %s offset %d, end %d", ErrPastEnd, name, off, end)
	}
	if r.f == nil {
		f, err := os.Open(filepath.Join(j.dir, segName(name, seg.start)))
		if isNotExist(err) {
			return 0, fmt.Errorf("%w: %s bytes from %d", ErrDropped, name, off)
		}
		if err != nil {
			return 0, fmt.Errorf("jobs: %w", err)
		}
		r.f, r.start = f, seg.start
	}
	n := min(int64(len(p)), seg.start+seg.size-off)
	got, err := r.f.ReadAt(p[:n], off-seg.start)
	if got > 0 {
		return got, nil
	}
	return 0, fmt.Errorf("jobs: %s: %w", j.meta.ID, err)
}

// Close closes the segment r holds open, if any.
func (r *Reader) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// Finish records how the job ended and closes its spools.
func (j *Job) Finish(e End) error {
	j.mu.Lock()
	for i := range j.spools {
		if w := j.spools[i].w; w != nil {
			w.Close()
			j.spools[i].w = nil
		}
	}
	j.meta.End = &e
	j.meta.Ended = j.s.cfg.Now().UTC()
	err := j.saveMetaLocked()
	j.notifyLocked()
	j.mu.Unlock()
	j.s.finished(j)
	return err
}

func (j *Job) saveMeta() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.saveMetaLocked()
}

// saveMetaLocked writes meta.json atomically (a temporary file renamed
// over it), so that a crash leaves the old or the new one.
func (j *Job) saveMetaLocked() error {
	if j.removed {
		return nil
	}
	b, err := json.Marshal(j.meta)
	if err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	tmp := filepath.Join(j.dir, metaFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(j.dir, metaFile)); err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	return nil
}

// remove deletes the job's directory (expiry).
func (j *Job) remove() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.removed = true
	for i := range j.spools {
		if w := j.spools[i].w; w != nil {
			w.Close()
			j.spools[i].w = nil
		}
	}
	_ = os.RemoveAll(j.dir)
	j.notifyLocked()
}
