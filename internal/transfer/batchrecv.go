package transfer

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"slices"
	"time"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// maxStaged bounds the files an Applier holds written and not yet renamed
// (those waiting for a sync and those under the sync in flight): each
// keeps its temporary file open and locked until its rename, so this
// bounds the descriptors one tree transfer holds.
const maxStaged = 2 * MaxBatchEntries

// Applied is one item of a batch when it is done with: in place and
// durable, or failed.
type Applied struct {
	Entry  protocol.Entry // for a removal, only Name is set
	Remove bool
	Bytes  int64 // a file's bytes
}

// staged is one item of a batch on its way in.
type staged struct {
	item   BatchItem  // Data is dropped once written
	local  string     // the target under the root
	bytes  int64      // a file's length
	dir    *dirHandle // a file's or link's directory, held until its rename
	tmp    string     // the temporary file or link (a base name in dir), "" when none
	f      *os.File   // the temporary file, open and locked until renamed
	parent string     // the directory the item changed, once applied
}

// Applier writes the batches of one tree transfer (PROTOCOL.md §8.10)
// and makes them durable in groups, with the durability of a batch:
// every file goes to its temporary file beside its target, checked
// against its digest; the temporary files are flushed to stable storage
// together (syncGroup: one syncfs where there is one); only then are
// they renamed over their targets, in order, with each directory's mode
// and time and each removal in the same order; and those renames are
// flushed by the next sync. A crash at any moment leaves each target with
// its old content or its whole new content.
//
// The sync runs on a goroutine of its own while the caller goes on
// receiving and writing the next batches, which join the next group: on
// a disk, where a sync takes a while, the groups grow and the syncs are
// few; where syncs are free (tmpfs), each batch is its own group. The
// caller's goroutine does everything else, report included; the Applier
// is used by that goroutine only, and Close must be called.
type Applier struct {
	r      *Receiver
	report func(Applied, error) error

	staged  []staged // written, waiting for the next sync
	files   int      // files among staged
	applied []staged // renamed or applied, waiting for a sync to make them durable
	flight  *groupSync
}

// groupSync is a sync in flight: it makes data's temporary files and
// applied's renames durable.
type groupSync struct {
	data    []staged
	files   int
	applied []staged
	done    chan error
}

// NewApplier returns an Applier writing into r. report is called, on the
// caller's goroutine from Apply and Finish, once for every item: with nil
// when it is in place and durable, or with its failure (the transfer goes
// on); an error from report ends the transfer and is returned.
func (r *Receiver) NewApplier(report func(Applied, error) error) *Applier {
	return &Applier{r: r, report: report}
}

// Apply writes the items of one batch to their temporary files. A name
// that breaks CheckName is the peer's protocol violation and is returned
// as ErrBadName before anything of the batch is written. The batch's data
// may be reused once Apply returns.
func (a *Applier) Apply(items []BatchItem) error {
	st := make([]staged, len(items))
	for i, it := range items {
		local, err := a.r.local(it.Entry.Name)
		if err != nil {
			return err
		}
		st[i] = staged{item: it, local: local, bytes: int64(len(it.Data))}
	}
	for a.flight != nil && a.files+a.flight.files+len(items) > maxStaged {
		if err := a.advance(true); err != nil {
			return err
		}
	}
	a.r.trimDirs()
	for i := range st {
		s := &st[i]
		var err error
		switch {
		case s.item.Remove || s.item.Entry.Kind == protocol.KindDir:
		case s.item.Entry.Kind == protocol.KindSymlink:
			err = a.r.stageLink(s)
		default:
			err = a.r.stageFile(s)
		}
		s.item.Data = nil
		if err != nil {
			s.drop(a.r)
			if rerr := a.report(s.applied(), err); rerr != nil {
				return rerr
			}
			continue
		}
		if s.f != nil {
			a.files++
		}
		a.staged = append(a.staged, *s)
	}
	return a.advance(a.files >= maxStaged)
}

// Finish makes everything applied so far durable and reports it; then it
// gives the directories made for entries below them whose own entry
// never came their default mode (Receiver.settleCreated).
func (a *Applier) Finish() error {
	for a.flight != nil || len(a.staged) > 0 || len(a.applied) > 0 {
		if err := a.advance(true); err != nil {
			return err
		}
	}
	a.r.settleCreated()
	return nil
}

// Close waits for the sync in flight and drops what is not renamed yet
// (its temporary files removed). After Finish there is nothing left.
func (a *Applier) Close() {
	if a.flight != nil {
		<-a.flight.done
		for i := range a.flight.data {
			a.flight.data[i].drop(a.r)
		}
		a.flight = nil
	}
	for i := range a.staged {
		a.staged[i].drop(a.r)
	}
	a.staged, a.files, a.applied = nil, 0, nil
}

// advance lands the sync in flight when it is over (waiting for it with
// wait) and starts the next one for whatever waits for a sync.
func (a *Applier) advance(wait bool) error {
	if g := a.flight; g != nil {
		var err error
		if wait {
			err = <-g.done
		} else {
			select {
			case err = <-g.done:
			default:
				return nil
			}
		}
		a.flight = nil
		if err := a.land(g, err); err != nil {
			return err
		}
	}
	if len(a.staged) > 0 || len(a.applied) > 0 {
		a.launch()
	}
	return nil
}

// launch starts the sync of the staged files and of the applied renames.
func (a *Applier) launch() {
	g := &groupSync{data: a.staged, files: a.files, applied: a.applied, done: make(chan error, 1)}
	a.staged, a.files, a.applied = nil, 0, nil
	var files []*os.File
	dirs := map[string]bool{}
	for _, s := range g.data {
		if s.f != nil {
			files = append(files, s.f)
		}
	}
	for _, s := range g.applied {
		dirs[s.parent] = true
	}
	for _, d := range a.r.takeMade() {
		dirs[d] = true
	}
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	slices.Sort(list)
	root := a.r.root
	go func() { g.done <- syncGroup(root, files, list) }()
	a.flight = g
}

// land takes a finished sync: the renames it covered are durable and
// reported; the files it flushed are renamed over their targets in order,
// with the directories and removals between them, and wait for the next.
// A failed sync fails everything it covered.
func (a *Applier) land(g *groupSync, serr error) error {
	for _, s := range g.applied {
		if err := a.report(s.applied(), serr); err != nil {
			return err
		}
	}
	for i := range g.data {
		s := &g.data[i]
		err := serr
		if err == nil {
			err = a.r.apply(s)
		}
		s.drop(a.r)
		if err != nil {
			if rerr := a.report(s.applied(), err); rerr != nil {
				return rerr
			}
			continue
		}
		a.applied = append(a.applied, *s)
	}
	return nil
}

// applied describes the item for the report.
func (s *staged) applied() Applied {
	return Applied{Entry: s.item.Entry, Remove: s.item.Remove, Bytes: s.bytes}
}

// apply puts one synced item in place: a file or link renamed over its
// target, a directory's mode and time set, a removal done.
func (r *Receiver) apply(s *staged) error {
	s.parent = path.Dir(s.local)
	switch {
	case s.item.Remove:
		return r.remove(s.local)
	case s.item.Entry.Kind == protocol.KindDir:
		return r.Dir(s.item.Entry)
	}
	_, base := split(s.local)
	if err := s.dir.root.Rename(s.tmp, base); err != nil {
		return err
	}
	s.tmp = ""
	return nil
}

// stageFile writes a batch file to its temporary file, with its mode and
// time, after checking its digest. The file stays open and locked.
func (r *Receiver) stageFile(s *staged) error {
	e := s.item.Entry
	if Digest(s.item.Data) != s.item.Digest {
		return ErrIntegrity
	}
	h, base, err := r.parentOf(s.local, true)
	if err != nil {
		return err
	}
	s.dir = h
	tmp := PartName(base, e.Length, e.MtimeNS)
	f, size, err := openPart(h.root, tmp)
	if err != nil {
		return err
	}
	s.f, s.tmp = f, tmp
	if size > 0 {
		if err := f.Truncate(0); err != nil {
			return err
		}
	}
	if _, err := f.Write(s.item.Data); err != nil {
		return err
	}
	if err := f.Chmod(fs.FileMode(e.Mode & modeMask &^ int(CreateMask()))); err != nil {
		return err
	}
	return h.root.Chtimes(tmp, time.Time{}, time.Unix(0, e.MtimeNS))
}

// stageLink creates a batch link under its temporary name.
func (r *Receiver) stageLink(s *staged) error {
	h, base, err := r.parentOf(s.local, true)
	if err != nil {
		return err
	}
	s.dir = h
	tmp, err := makeLink(h.root, base, s.item.Entry.Target)
	if err != nil {
		return err
	}
	s.tmp = tmp
	return nil
}

// drop closes a staged item's file, removes what is left of its
// temporary (a failed item's, or every one when the batch is given up)
// and lets its directory go.
func (s *staged) drop(r *Receiver) {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	if s.tmp != "" {
		_ = s.dir.root.Remove(s.tmp)
		s.tmp = ""
	}
	if s.dir != nil {
		r.release(s.dir)
		s.dir = nil
	}
}

// Remove removes the entry name below the destination (sync --delete):
// a file or symbolic link (the link itself, never what it points to), or
// a directory that is empty. No link above it is followed: a name that
// leads through one is refused (ErrSymlink), and a name whose directory
// does not exist is already gone.
func (r *Receiver) Remove(name string) error {
	local, err := r.local(name)
	if err != nil {
		return err
	}
	return r.remove(local)
}

func (r *Receiver) remove(local string) error {
	dir, base := split(local)
	h, err := r.openDir(dir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer r.release(h)
	fi, err := h.root.Lstat(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := h.root.Remove(base); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if fi.IsDir() {
		r.forgetDir(local)
		delete(r.created, local)
	}
	return nil
}
