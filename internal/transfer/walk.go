package transfer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// maxDepth bounds a walk's recursion: a name of MaxName bytes has at most
// half as many components.
const maxDepth = MaxName / 2

// WalkFunc is called by Walk for each item: name is its wire name ("."
// for the walked path itself, else slash-separated below it), local its
// path on this machine, e its entry (Kind, Mode, MtimeNS, Target; the
// length of a file is its Source's business). err reports an item that
// cannot be sent (unreadable directory, socket, name that is not UTF-8);
// the walk goes on after it unless fn returns an error.
type WalkFunc func(name, local string, e protocol.Entry, err error) error

// Walk visits path, following it if it is a symbolic link, and with
// recursive everything below it without following links (they are sent
// as links). Children come before their directory (post-order), so the
// receiver can set a directory's time and mode once it is complete; names
// are sorted. Without recursive a directory is an error (ErrIsDir).
// rexec's own temporary files below path (partial files, staged links)
// are skipped: a receiver refuses their names (CheckName), and a sync
// must neither send nor list nor delete them.
func Walk(path string, recursive bool, fn WalkFunc) error {
	info, err := os.Stat(path)
	if err != nil {
		return fn(".", path, protocol.Entry{Name: "."}, err)
	}
	if info.IsDir() && !recursive {
		return fn(".", path, protocol.Entry{Name: "."}, fmt.Errorf("%w (use -r)", ErrIsDir))
	}
	return walk(".", path, info, 0, fn)
}

func walk(name, local string, info fs.FileInfo, depth int, fn WalkFunc) error {
	e, err := EntryOf(name, local, info)
	if err != nil || e.Kind != protocol.KindDir {
		return fn(name, local, e, err)
	}
	if depth >= maxDepth {
		return fn(name, local, e, errors.New("directories nested too deep"))
	}
	children, err := os.ReadDir(local)
	if err != nil {
		return fn(name, local, e, err)
	}
	for _, c := range children {
		if isTempName(c.Name()) {
			continue // rexec's own temporary file: never sent nor listed
		}
		child := c.Name()
		if name != "." {
			child = name + "/" + c.Name()
		}
		cl := filepath.Join(local, c.Name())
		ci, err := c.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since it was listed
			}
			err = fn(child, cl, protocol.Entry{Name: child}, err)
		} else {
			err = walk(child, cl, ci, depth+1, fn)
		}
		if err != nil {
			return err
		}
	}
	return fn(name, local, e, nil)
}

// EntryOf describes a local item under its wire name. A file's Length is
// left 0: the Source opened to send it gives the length that is sent.
func EntryOf(name, local string, info fs.FileInfo) (protocol.Entry, error) {
	e := protocol.Entry{Name: name, Mode: WireMode(info.Mode()), MtimeNS: info.ModTime().UnixNano()}
	if !utf8.ValidString(name) {
		return e, errors.New("the name is not valid UTF-8, which the protocol cannot carry")
	}
	switch m := info.Mode(); {
	case m.IsRegular():
		e.Kind = protocol.KindFile
	case m.IsDir():
		e.Kind = protocol.KindDir
	case m&fs.ModeSymlink != 0:
		e.Kind = protocol.KindSymlink
		target, err := os.Readlink(local)
		if err != nil {
			return e, err
		}
		if target == "" || !utf8.ValidString(target) {
			return e, errors.New("the link target is not valid UTF-8")
		}
		e.Target = target
		e.Mode = 0
	default:
		return e, ErrNotRegular
	}
	return e, nil
}

// Measure walks path as Walk does and returns how many regular files it
// holds and their bytes, for a progress bar (a get with count): keep,
// when not nil, picks the files counted by name; what cannot be read is
// left out.
func Measure(path string, recursive bool, keep func(name string) bool) (files, bytes int64) {
	_ = Walk(path, recursive, func(name, local string, e protocol.Entry, err error) error {
		if err != nil || e.Kind != protocol.KindFile || keep != nil && !keep(name) {
			return nil
		}
		if fi, err := os.Stat(local); err == nil {
			files++
			bytes += fi.Size()
		}
		return nil
	})
	return files, bytes
}
