package transfer

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
)

// maxOpenDirs bounds the directories a Receiver keeps open between
// entries. An os.Root resolves a name one component at a time (an open
// and a close per directory on the way), so a tree's entries are written
// through a handle on their own directory instead, which costs one system
// call per operation; past this many, handles no entry holds are closed.
const maxOpenDirs = 64

// maxCreated bounds the directories a Receiver remembers having created
// for an entry below them (settleCreated): a peer that sends a million
// files in a million directories without their own entries leaves the
// rest at dirMode, which is the safe side.
const maxCreated = 1 << 16

// dirHandle is an open directory below the root, found with Lstat to be
// a real directory (no link) when it was opened. refs counts its users:
// an entry staged in it holds it until its rename.
type dirHandle struct {
	root *os.Root
	refs int
	gone bool // no longer in the cache; closed when refs reach 0
}

// split is the directory and base name of a local name under the root.
func split(local string) (dir, base string) { return path.Dir(local), path.Base(local) }

// openDir returns a handle on the directory dir (a local name; "." is
// the root), checking every component below the root with Lstat: a
// symbolic link or anything but a directory on the way is refused
// (ErrSymlink, ErrNotDir). With create, missing directories are made
// (mode dirMode until their own entry arrives); without it a missing one
// is fs.ErrNotExist. The caller releases the handle.
func (r *Receiver) openDir(dir string, create bool) (*dirHandle, error) {
	if h := r.dirs[dir]; h != nil {
		h.refs++
		return h, nil
	}
	parent, base := split(dir)
	ph, err := r.openDir(parent, create)
	if err != nil {
		return nil, err
	}
	defer r.release(ph)
	fi, err := ph.root.Lstat(base)
	if errors.Is(err, fs.ErrNotExist) && create {
		err = ph.root.Mkdir(base, dirMode)
		if err == nil {
			r.noteCreated(dir)
			if len(r.made) < maxCreated {
				r.made = append(r.made, parent)
			}
		}
		if err == nil || errors.Is(err, fs.ErrExist) {
			fi, err = ph.root.Lstat(base)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := isRealDir(dir, fi); err != nil {
		return nil, err
	}
	sub, err := ph.root.OpenRoot(base)
	if err != nil {
		return nil, err
	}
	h := &dirHandle{root: sub, refs: 1}
	r.dirs[dir] = h
	return h, nil
}

// release gives up one use of h.
func (r *Receiver) release(h *dirHandle) {
	h.refs--
	if h.refs == 0 && h.gone {
		h.root.Close()
	}
}

// trimDirs closes the handles no entry holds once there are too many.
func (r *Receiver) trimDirs() {
	if len(r.dirs) <= maxOpenDirs {
		return
	}
	for d, h := range r.dirs {
		if d != "." && h.refs == 0 {
			h.root.Close()
			delete(r.dirs, d)
		}
	}
}

// forgetDir drops the handles of dir and everything below it (dir was
// removed: a new directory of that name is another one).
func (r *Receiver) forgetDir(dir string) {
	for d, h := range r.dirs {
		if d == dir || strings.HasPrefix(d, dir+"/") {
			delete(r.dirs, d)
			h.gone = true
			if h.refs == 0 {
				h.root.Close()
			}
		}
	}
}

// closeDirs closes every handle but the root's.
func (r *Receiver) closeDirs() {
	for d, h := range r.dirs {
		if d != "." {
			h.root.Close()
			delete(r.dirs, d)
		}
	}
}

// takeMade returns the directories in which openDir made a directory
// since the last call: a sync makes those creations durable.
func (r *Receiver) takeMade() []string {
	m := r.made
	r.made = nil
	return m
}

// noteCreated remembers a directory made for an entry below it.
func (r *Receiver) noteCreated(dir string) {
	if len(r.created) < maxCreated {
		r.created[dir] = true
	}
}

// settleCreated gives the directories made for entries below them whose
// own entry never came (a sync into a new DST sends DST/SRC, not DST) the
// mode a new directory has under the umask (defaultDirMode), instead of
// dirMode, which only keeps a directory private while its tree arrives.
// Their own entry, when it came, set their mode already. It is best
// effort: a directory that cannot be changed keeps the safer dirMode.
func (r *Receiver) settleCreated() {
	for d := range r.created {
		delete(r.created, d)
		parent, base := split(d)
		if h, err := r.openDir(parent, false); err == nil {
			_ = h.root.Chmod(base, fs.FileMode(defaultDirMode&^CreateMask()))
			r.release(h)
		}
	}
}
