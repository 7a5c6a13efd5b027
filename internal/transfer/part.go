package transfer

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// writebackWindow is how much data is written before the kernel is asked
// to start putting it on the device (see startWriteback).
const writebackWindow = 8 << 20

// Part is a file being received into its partial (temporary) file beside
// the target. It holds the partial file's lock until Commit or Abort.
// The final name is only ever touched by Commit's rename.
type Part struct {
	r     *Receiver
	entry protocol.Entry
	local string // the target's name under the root
	name  string // the partial file's name under the root
	f     *os.File
	h     *Tree
	have  []byte // chunk digests of the partial file, from Have
	size  int64  // bytes in the partial file that are hashed
	wb    int64  // writeback requested up to here
	werr  error  // the write that failed, after which h is not to be trusted
}

func newPart(r *Receiver, e protocol.Entry, local, name string, f *os.File) *Part {
	return &Part{r: r, entry: e, local: local, name: name, f: f, h: newTree()}
}

// Have returns what the partial file can offer to a resume: its length,
// capped at the entry's length and protocol.MaxHave, and the BLAKE3 of
// each ChunkSize chunk of it (the last one possibly shorter). Start
// re-uses those digests for the prefix it keeps, so the kept bytes are
// read and hashed once.
func (p *Part) Have() (int64, []byte, error) {
	fi, err := p.f.Stat()
	if err != nil {
		return 0, nil, err
	}
	have := min(fi.Size(), p.entry.Length, protocol.MaxHave)
	sums := make([]byte, 0, chunks(have)*protocol.SumSize)
	buf := make([]byte, min(have, protocol.ChunkSize))
	for off := int64(0); off < have; {
		n := min(protocol.ChunkSize, have-off)
		if _, err := p.f.ReadAt(buf[:n], off); err != nil {
			return 0, nil, err
		}
		sum := chunkSum(buf[:n])
		sums = append(sums, sum[:]...)
		off += n
	}
	p.have = sums
	return have, sums, nil
}

// Start keeps the first offset bytes of the partial file (0: none) and
// adds them to the digest: whole chunks by the digests Have computed,
// the rest (a chunk's head) by hashing it; the data that follows is
// written after them.
func (p *Part) Start(offset int64) error {
	if err := p.f.Truncate(offset); err != nil {
		return err
	}
	full := offset / protocol.ChunkSize
	if int64(len(p.have)) < full*protocol.SumSize {
		full = 0 // no digests from Have: hash the prefix
	}
	for i := range full {
		p.h.addChunk(p.have[i*protocol.SumSize : (i+1)*protocol.SumSize])
	}
	from := full * protocol.ChunkSize
	if _, err := io.Copy(p.h, io.NewSectionReader(p.f, from, offset-from)); err != nil {
		return err
	}
	p.have = nil
	p.size, p.wb = offset, offset
	return nil
}

// Write appends b, hashing it on a second goroutine while it is written
// (hashWhile). More data than the entry's length is a protocol violation
// by the sender. After a failed write the Part is broken: the hash may
// cover bytes that are not in the file, so every later Write and Commit
// return that failure.
func (p *Part) Write(b []byte) error {
	if p.werr != nil {
		return p.werr
	}
	if int64(len(b)) > p.entry.Length-p.size {
		return protocolError("%s: more than the announced %d bytes", p.entry.Name, p.entry.Length)
	}
	var n int
	err := hashWhile(p.h, b, func() error {
		var err error
		n, err = p.f.WriteAt(b, p.size)
		return err
	})
	p.size += int64(n)
	if err != nil {
		p.werr = err
		return err
	}
	if p.size-p.wb >= writebackWindow {
		startWriteback(p.f, p.wb, p.size-p.wb)
		p.wb = p.size
	}
	return nil
}

// Commit checks that the partial file holds the whole file with the
// sender's file digest (hex, PROTOCOL.md §8.6), applies the entry's mode (without setuid, setgid and
// sticky) and modification time, fsyncs it, renames it over the target
// and fsyncs the directory; only then is the file received. A digest
// mismatch removes the partial file (ErrIntegrity); a short file is a
// protocol violation.
func (p *Part) Commit(digest string) error {
	if p.werr != nil {
		p.Abort(false)
		return p.werr
	}
	if p.size != p.entry.Length {
		return protocolError("%s: file_end after %d of %d bytes", p.entry.Name, p.size, p.entry.Length)
	}
	if got := p.h.Sum(); got != digest {
		p.Abort(false)
		return fmt.Errorf("%w (got %s, sender says %s)", ErrIntegrity, got, digest)
	}
	if err := p.finish(); err != nil {
		p.Abort(false)
		return err
	}
	err := p.r.root.Rename(p.name, p.local)
	p.f.Close()
	p.f = nil
	if err != nil {
		_ = p.r.root.Remove(p.name)
		return err
	}
	return p.r.syncDir(path.Dir(p.local))
}

// finish sets mode and times on the partial file and makes it durable.
func (p *Part) finish() error {
	if err := p.f.Chmod(fs.FileMode(p.entry.Mode & modeMask &^ int(CreateMask()))); err != nil {
		return err
	}
	if err := p.r.root.Chtimes(p.name, time.Time{}, time.Unix(0, p.entry.MtimeNS)); err != nil {
		return err
	}
	return p.f.Sync()
}

// Abort gives the file up. keep leaves the partial file for a later
// resume (the connection broke); otherwise it is removed (the data is bad
// or the disk is full). It is idempotent.
func (p *Part) Abort(keep bool) {
	if p.f == nil {
		return
	}
	if !keep {
		_ = p.r.root.Remove(p.name)
	}
	p.f.Close()
	p.f = nil
}

// Size is how many bytes of the file the partial file holds.
func (p *Part) Size() int64 { return p.size }
