package transfer

import (
	"crypto/rand"
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

// Receiver writes entries from the peer under one destination directory,
// through an os.Root, so no name can reach outside it. On top of that it
// never follows a symbolic link below the root: a peer cannot plant one
// and then write through it. Its methods are safe for one goroutine.
type Receiver struct {
	root    *os.Root
	top     string
	created []string // directories prepare created, for ApplyBatch to flush
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
	return &Receiver{root: root, top: top}, nil
}

// Close releases the destination directory.
func (r *Receiver) Close() error { return r.root.Close() }

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

// prepare makes sure every directory above local exists and is a real
// directory, creating missing ones (mode 0700 until their entry arrives).
func (r *Receiver) prepare(local string) error {
	dir := path.Dir(local)
	if dir == "." {
		return nil
	}
	for i := 0; i <= len(dir); i++ {
		if i < len(dir) && dir[i] != '/' {
			continue
		}
		if err := r.ensureDir(dir[:i]); err != nil {
			return err
		}
	}
	return nil
}

func (r *Receiver) ensureDir(p string) error {
	fi, err := r.root.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		err = r.root.Mkdir(p, dirMode)
		if errors.Is(err, fs.ErrExist) {
			fi, err = r.root.Lstat(p)
		} else {
			if err == nil {
				r.created = append(r.created, p)
			}
			return err
		}
	}
	if err != nil {
		return err
	}
	return isRealDir(p, fi)
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
	if err := r.prepare(local); err != nil {
		return err
	}
	if err := r.ensureDir(local); err != nil {
		return err
	}
	if err := r.root.Chmod(local, fs.FileMode(e.Mode&modeMask&^int(CreateMask()))); err != nil {
		return err
	}
	mtime := time.Unix(0, e.MtimeNS)
	return r.root.Chtimes(local, time.Time{}, mtime)
}

// Symlink creates the symbolic link entry e, replacing a file or link of
// that name atomically. The target text is kept as sent: it is only ever
// stored, never followed by this package.
func (r *Receiver) Symlink(e protocol.Entry) error {
	local, err := r.local(e.Name)
	if err != nil {
		return err
	}
	if err := r.prepare(local); err != nil {
		return err
	}
	if fi, err := r.root.Lstat(local); err == nil && fi.IsDir() {
		return fmt.Errorf("%s: %w", local, ErrIsDir)
	}
	tmp := path.Join(path.Dir(local), "."+shorten(path.Base(local), maxPartBase)+linkInfix+randomHex())
	if err := r.root.Symlink(e.Target, tmp); err != nil {
		return err
	}
	if err := r.root.Rename(tmp, local); err != nil {
		_ = r.root.Remove(tmp)
		return err
	}
	return nil
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
	if err := r.prepare(local); err != nil {
		return nil, err
	}
	if fi, err := r.root.Lstat(local); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%s: %w", local, ErrIsDir)
	}
	name := path.Join(path.Dir(local), PartName(path.Base(local), e.Length, e.MtimeNS))
	f, err := openPart(r.root, name)
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

// openPart opens and locks the partial file name, creating it if needed.
// After the lock it checks the name still refers to the locked file: a
// transfer that just committed has renamed it away.
func openPart(root *os.Root, name string) (*os.File, error) {
	for range partOpenTries {
		f, err := root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			f, err = root.OpenFile(name, os.O_RDWR, 0)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
		}
		if err != nil {
			return nil, err
		}
		if err := lockFile(f); err != nil {
			f.Close()
			if errors.Is(err, ErrInUse) {
				time.Sleep(partLockRetry)
				continue
			}
			return nil, err
		}
		fi, ferr := f.Stat()
		li, lerr := root.Lstat(name)
		if ferr == nil && lerr == nil && li.Mode().IsRegular() && os.SameFile(fi, li) {
			return f, nil
		}
		f.Close()
		if lerr == nil && !li.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: %w", name, ErrSymlink)
		}
	}
	return nil, ErrInUse
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

func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
