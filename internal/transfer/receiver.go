package transfer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// modeMask is what a receiver applies of a peer's mode: permissions only,
// never setuid, setgid or sticky (docs/CLI.md §6).
const modeMask = 0o777

// dirMode is the mode of a directory the receiver creates before its own
// entry arrives (entries come children first); the entry then sets it.
const dirMode = 0o700

// defaultDirMode is the mode of a directory the receiver created for the
// entries below it whose own entry never came (settleCreated), before the
// create mask: what mkdir gives under the usual umask 022.
const defaultDirMode = 0o755

// Receiver writes entries from the peer under one destination directory,
// through an os.Root, so no name can reach outside it. On top of that it
// never follows a symbolic link below the root: a peer cannot plant one
// and then write through it. Its methods are safe for one goroutine.
type Receiver struct {
	root    *os.Root
	top     string
	dirs    map[string]*dirHandle // open directories by local name; "." is root
	created map[string]bool       // directories made for entries below them, their own entry not yet seen
	made    []string              // directories a directory was made in, since takeMade
}

// OpenReceiver opens the destination directory dir. With top empty, entry
// names are relative to dir and "." is refused (the server receiving a
// put). Otherwise the entry "." is dir/top and every other name is below
// it (the client receiving a get into a name it chose).
func OpenReceiver(dir, top string) (*Receiver, error) {
	if top != "" {
		if err := CheckName(top); err != nil || strings.Contains(top, "/") {
			return nil, fmt.Errorf("destination name %q: %w", top, ErrBadName)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &Receiver{root: root, top: top, dirs: map[string]*dirHandle{".": {root: root, refs: 1}},
		created: map[string]bool{}}, nil
}

// Close releases the destination directory.
func (r *Receiver) Close() error {
	r.closeDirs()
	return r.root.Close()
}

// local validates a name from the peer and maps it under the root.
func (r *Receiver) local(name string) (string, error) {
	if name == "." {
		if r.top == "" {
			return "", fmt.Errorf("%w: %q names the destination itself", ErrBadName, name)
		}
		return r.top, nil
	}
	if err := CheckName(name); err != nil {
		return "", err
	}
	if r.top != "" {
		return r.top + "/" + name, nil
	}
	return name, nil
}

// parentOf returns a handle on the directory that holds local (made when
// missing) and local's base name there, after checking that base is not
// a directory when notDir is set (a file or link never replaces one).
func (r *Receiver) parentOf(local string, notDir bool) (*dirHandle, string, error) {
	dir, base := split(local)
	h, err := r.openDir(dir, true)
	if err != nil {
		return nil, "", err
	}
	if notDir {
		if fi, err := h.root.Lstat(base); err == nil && fi.IsDir() {
			r.release(h)
			return nil, "", fmt.Errorf("%s: %w", local, ErrIsDir)
		}
	}
	return h, base, nil
}

func isRealDir(p string, fi fs.FileInfo) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s: %w", p, ErrSymlink)
	case !fi.IsDir():
		return fmt.Errorf("%s: %w", p, ErrNotDir)
	}
	return nil
}

// Dir creates the directory entry e, or keeps the directory already
// there, and sets its mode and modification time. Entries arrive
// children first, so the times it sets stay.
func (r *Receiver) Dir(e protocol.Entry) error {
	local, err := r.local(e.Name)
	if err != nil {
		return err
	}
	h, err := r.openDir(local, true)
	if err != nil {
		return err
	}
	r.release(h)
	delete(r.created, local)
	ph, base, err := r.parentOf(local, false)
	if err != nil {
		return err
	}
	defer r.release(ph)
	if err := ph.root.Chmod(base, fs.FileMode(e.Mode&modeMask&^int(CreateMask()))); err != nil {
		return err
	}
	return ph.root.Chtimes(base, time.Time{}, time.Unix(0, e.MtimeNS))
}

// Symlink creates the symbolic link entry e, replacing a file or link of
// that name atomically. The target text is kept as sent: it is only ever
// stored, never followed by this package.
func (r *Receiver) Symlink(e protocol.Entry) error {
	local, err := r.local(e.Name)
	if err != nil {
		return err
	}
	h, base, err := r.parentOf(local, true)
	if err != nil {
		return err
	}
	defer r.release(h)
	tmp, err := makeLink(h.root, base, e.Target)
	if err != nil {
		return err
	}
	if err := h.root.Rename(tmp, base); err != nil {
		_ = h.root.Remove(tmp)
		return err
	}
	return nil
}

// linkName is the temporary name a link to target is made under beside
// base before it is renamed over it. It is stable, so a staged link left
// by a killed transfer is replaced by the next transfer of the same link
// rather than left behind.
func linkName(base, target string) string {
	h := sha256.New()
	h.Write([]byte(base))
	h.Write([]byte{0})
	h.Write([]byte(target))
	return "." + shorten(base, maxPartBase) + linkInfix + hex.EncodeToString(h.Sum(nil))[:partKeyLen]
}

// makeLink creates the link to target under its temporary name in d,
// replacing one a killed transfer left there, and returns that name.
func makeLink(d *os.Root, base, target string) (string, error) {
	tmp := linkName(base, target)
	err := d.Symlink(target, tmp)
	if errors.Is(err, fs.ErrExist) {
		if fi, lerr := d.Lstat(tmp); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			_ = d.Remove(tmp)
		}
		err = d.Symlink(target, tmp)
	}
	if err != nil {
		return "", err
	}
	return tmp, nil
}

// File opens the partial file for the file entry e: it creates it
// exclusively, or takes over the one a broken transfer of the same source
// version left (ErrInUse while another transfer holds it). The caller
// either resumes it (Have, Start) or starts it afresh (Start(0)).
func (r *Receiver) File(e protocol.Entry) (*Part, error) {
	if e.Kind != protocol.KindFile {
		return nil, protocolError("%s is a %s, not a file", e.Name, e.Kind)
	}
	local, err := r.local(e.Name)
	if err != nil {
		return nil, err
	}
	h, base, err := r.parentOf(local, true)
	if err != nil {
		return nil, err
	}
	r.release(h)
	name := path.Join(path.Dir(local), PartName(base, e.Length, e.MtimeNS))
	f, _, err := openPart(r.root, name)
	if err != nil {
		return nil, err
	}
	return newPart(r, e, local, name, f), nil
}

// Bounds of openPart's retries. A partial file can vanish or be replaced
// between open and lock (a transfer committing or sweeping it), and the
// transfer that held it may be letting go: a client that resumes right
// after its connection broke can arrive before the server has noticed.
const (
	partOpenTries = 40
	partLockRetry = 50 * time.Millisecond // 40 tries: 2 s for a holder to let go
)

// openPart opens and locks the partial file name, creating it if needed,
// and returns its size (0 for a new one). After the lock it checks the
// name still refers to the locked file: a transfer that just committed
// has renamed it away.
func openPart(root *os.Root, name string) (*os.File, int64, error) {
	for range partOpenTries {
		f, err := root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			f, err = root.OpenFile(name, os.O_RDWR, 0)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
		}
		if err != nil {
			return nil, 0, err
		}
		if err := lockFile(f); err != nil {
			f.Close()
			if errors.Is(err, ErrInUse) {
				time.Sleep(partLockRetry)
				continue
			}
			return nil, 0, err
		}
		fi, ferr := f.Stat()
		li, lerr := root.Lstat(name)
		if ferr == nil && lerr == nil && li.Mode().IsRegular() && os.SameFile(fi, li) {
			return f, fi.Size(), nil
		}
		f.Close()
		if lerr == nil && !li.Mode().IsRegular() {
			return nil, 0, fmt.Errorf("%s: %w", name, ErrSymlink)
		}
	}
	return nil, 0, ErrInUse
}

// syncDir fsyncs directory dir under the root, so a rename in it is durable.
func (r *Receiver) syncDir(dir string) error {
	d, err := r.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return syncDirFile(d)
}
