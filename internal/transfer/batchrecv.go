package transfer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"time"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// staged is one item of a batch on its way in.
type staged struct {
	item  BatchItem
	local string   // the target under the root
	tmp   string   // the temporary file or link, "" when not staged
	f     *os.File // the temporary file, open and locked until renamed
	err   error
}

// ApplyBatch writes the items of one batch and makes them durable
// together (PROTOCOL.md §8.10): every file is written to its temporary
// file beside its target and checked against its digest, the temporary
// files are flushed together (syncBatch: one syncfs where there is one),
// then renamed over their targets in order, directories get their mode
// and time and removals are done in the same order, and last the
// directories touched are flushed (again together). A crash at any moment
// leaves each target with its old content or its whole new content.
//
// It returns one result per item (nil, or the item's failure) and the
// file bytes written. A name that breaks CheckName is a protocol
// violation of the peer and is returned as ErrBadName before anything of
// the batch is written.
func (r *Receiver) ApplyBatch(items []BatchItem) ([]error, int64, error) {
	st := make([]staged, len(items))
	for i, it := range items {
		local, err := r.local(it.Entry.Name)
		if err != nil {
			return nil, 0, err
		}
		st[i] = staged{item: it, local: local}
	}
	defer func() {
		for i := range st {
			st[i].drop(r)
		}
	}()
	var written int64
	files := 0
	for i := range st {
		s := &st[i]
		switch {
		case s.item.Remove || s.item.Entry.Kind == protocol.KindDir:
			continue
		case s.item.Entry.Kind == protocol.KindSymlink:
			s.err = r.stageLink(s)
		default:
			s.err = r.stageFile(s)
			if s.err == nil {
				written += int64(len(s.item.Data))
				files++
			}
		}
	}
	if files > 0 {
		if err := syncBatch(r.root, st); err != nil {
			for i := range st {
				if st[i].f != nil {
					st[i].err = err
					st[i].drop(r)
				}
			}
		}
	}
	touched := map[string]bool{}
	for i := range st {
		s := &st[i]
		if s.err != nil {
			continue
		}
		switch {
		case s.item.Remove:
			s.err = r.remove(s.local)
		case s.item.Entry.Kind == protocol.KindDir:
			s.err = r.Dir(s.item.Entry)
		default:
			s.err = r.root.Rename(s.tmp, s.local)
			if s.err == nil {
				s.tmp = ""
			}
		}
		touched[path.Dir(s.local)] = true
	}
	for _, d := range r.takeCreated() {
		touched[path.Dir(d)] = true
	}
	derr := r.syncDirs(touched)
	res := make([]error, len(st))
	for i := range st {
		res[i] = st[i].err
		if res[i] == nil && derr != nil && !st[i].item.Remove {
			res[i] = derr
		}
	}
	return res, written, nil
}

// stageFile writes a batch file to its temporary file, with its mode and
// time, after checking its digest. The file stays open and locked.
func (r *Receiver) stageFile(s *staged) error {
	e := s.item.Entry
	if Digest(s.item.Data) != s.item.Digest {
		return ErrIntegrity
	}
	if err := r.prepare(s.local); err != nil {
		return err
	}
	if fi, err := r.root.Lstat(s.local); err == nil && fi.IsDir() {
		return fmt.Errorf("%s: %w", s.local, ErrIsDir)
	}
	s.tmp = path.Join(path.Dir(s.local), PartName(path.Base(s.local), e.Length, e.MtimeNS))
	f, err := openPart(r.root, s.tmp)
	if err != nil {
		s.tmp = ""
		return err
	}
	s.f = f
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.Write(s.item.Data); err != nil {
		return err
	}
	if err := f.Chmod(fs.FileMode(e.Mode & modeMask)); err != nil {
		return err
	}
	return r.root.Chtimes(s.tmp, time.Time{}, time.Unix(0, e.MtimeNS))
}

// stageLink creates a batch link under its temporary name.
func (r *Receiver) stageLink(s *staged) error {
	if err := r.prepare(s.local); err != nil {
		return err
	}
	if fi, err := r.root.Lstat(s.local); err == nil && fi.IsDir() {
		return fmt.Errorf("%s: %w", s.local, ErrIsDir)
	}
	tmp := path.Join(path.Dir(s.local), "."+shorten(path.Base(s.local), maxPartBase)+linkInfix+randomHex())
	if err := r.root.Symlink(s.item.Entry.Target, tmp); err != nil {
		return err
	}
	s.tmp = tmp
	return nil
}

// drop closes a staged item's file and removes what is left of its
// temporary: a failed item's, or every one when the batch is given up.
func (s *staged) drop(r *Receiver) {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	if s.tmp != "" {
		_ = r.root.Remove(s.tmp)
		s.tmp = ""
	}
}

// syncDirs flushes the directories in dirs, so that the renames, creations
// and removals in them are durable.
func (r *Receiver) syncDirs(dirs map[string]bool) error {
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	slices.Sort(list)
	return syncDirsTogether(r, list)
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
	dir := path.Dir(local)
	if dir != "." {
		for i := 0; i <= len(dir); i++ {
			if i < len(dir) && dir[i] != '/' {
				continue
			}
			fi, err := r.root.Lstat(dir[:i])
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := isRealDir(dir[:i], fi); err != nil {
				return err
			}
		}
	}
	err := r.root.Remove(local)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// takeCreated returns the directories prepare created since the last call.
func (r *Receiver) takeCreated() []string {
	c := r.created
	r.created = nil
	return c
}
