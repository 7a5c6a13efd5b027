package transfer

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// hostileSetup is a destination dst inside base, and a directory outside
// it that nothing may touch.
func hostileSetup(t *testing.T, top string) (r *Receiver, dst, outside string) {
	t.Helper()
	base := t.TempDir()
	dst, outside = filepath.Join(base, "dst"), filepath.Join(base, "outside")
	for _, d := range []string{dst, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r, err := OpenReceiver(dst, top)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		if entries, _ := os.ReadDir(outside); len(entries) != 0 {
			t.Errorf("something was written outside the destination: %v", entries)
		}
	})
	return r, dst, outside
}

// put applies one entry as a receiver would, with an empty file's data.
func put(r *Receiver, e protocol.Entry) error {
	switch e.Kind {
	case protocol.KindDir:
		return r.Dir(e)
	case protocol.KindSymlink:
		return r.Symlink(e)
	}
	p, err := r.File(e)
	if err != nil {
		return err
	}
	if err := p.Start(0); err != nil {
		return err
	}
	return p.Commit(Digest(nil))
}

func file(name string) protocol.Entry {
	return protocol.Entry{Name: name, Kind: protocol.KindFile, Mode: 0o644}
}

func TestReceiverRefusesEscapes(t *testing.T) {
	for _, top := range []string{"", "t"} {
		r, _, outside := hostileSetup(t, top)
		for _, name := range []string{"../outside/x", "/abs", "a/../../outside/x", "a//b", "", "./x"} {
			for _, e := range []protocol.Entry{file(name), {Name: name, Kind: protocol.KindDir},
				{Name: name, Kind: protocol.KindSymlink, Target: outside}} {
				if err := put(r, e); !errors.Is(err, ErrBadName) {
					t.Errorf("top %q: %s %q = %v, want ErrBadName", top, e.Kind, name, err)
				}
			}
		}
	}
}

func TestReceiverNeverFollowsSymlinks(t *testing.T) {
	r, dst, outside := hostileSetup(t, "")
	for _, l := range []protocol.Entry{
		{Name: "out", Kind: protocol.KindSymlink, Target: outside},
		{Name: "rel", Kind: protocol.KindSymlink, Target: "../outside"},
		{Name: "in", Kind: protocol.KindSymlink, Target: "sub"}, // inside, still not followed
	} {
		if err := put(r, l); err != nil {
			t.Fatalf("symlink %s: %v", l.Name, err)
		}
		for _, e := range []protocol.Entry{file(l.Name + "/x"), {Name: l.Name + "/d", Kind: protocol.KindDir},
			{Name: l.Name + "/s", Kind: protocol.KindSymlink, Target: "/etc"}} {
			if err := put(r, e); !errors.Is(err, ErrSymlink) {
				t.Errorf("%s %q through a symlink = %v, want ErrSymlink", e.Kind, e.Name, err)
			}
		}
	}
	// A file entry named like the link replaces the link, not its target.
	if err := put(r, file("out")); err != nil {
		t.Fatalf("file over a symlink: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(dst, "out")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("after a file over the link: %v, %v; want a regular file", fi, err)
	}
	if target, err := os.Readlink(filepath.Join(dst, "rel")); err != nil || target != "../outside" {
		t.Errorf("symlink target = %q, %v; want it kept as sent", target, err)
	}
}

func TestReceiverMasksModes(t *testing.T) {
	r, dst, _ := hostileSetup(t, "")
	if err := put(r, protocol.Entry{Name: "f", Kind: protocol.KindFile, Mode: 0o6755}); err != nil {
		t.Fatal(err)
	}
	if err := put(r, protocol.Entry{Name: "d", Kind: protocol.KindDir, Mode: 0o3777}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]fs.FileMode{"f": 0o755, "d": fs.ModeDir | 0o777} {
		fi, err := os.Stat(filepath.Join(dst, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s mode = %v, want %v (never setuid, setgid or sticky)", name, fi.Mode(), want)
		}
	}
}

func TestReceiverTop(t *testing.T) {
	r, dst, _ := hostileSetup(t, "t")
	if err := put(r, file("a/b")); err != nil {
		t.Fatal(err)
	}
	if err := put(r, protocol.Entry{Name: ".", Kind: protocol.KindDir, Mode: 0o750}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "t", "a", "b")); err != nil {
		t.Errorf("entry a/b under top t: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "t")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("entry . = %v, %v; want dst/t with mode 0750", fi, err)
	}
	r2, _, _ := hostileSetup(t, "")
	if err := put(r2, protocol.Entry{Name: ".", Kind: protocol.KindDir}); !errors.Is(err, ErrBadName) {
		t.Errorf("entry . without a top = %v, want ErrBadName", err)
	}
	if _, err := OpenReceiver(dst, "../x"); !errors.Is(err, ErrBadName) {
		t.Errorf("OpenReceiver with top ../x = %v, want ErrBadName", err)
	}
}

func TestReceiverKindConflicts(t *testing.T) {
	r, dst, _ := hostileSetup(t, "")
	if err := os.WriteFile(filepath.Join(dst, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dst, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		e    protocol.Entry
		want error
	}{
		{protocol.Entry{Name: "file", Kind: protocol.KindDir}, ErrNotDir},
		{file("file/x"), ErrNotDir},
		{file("dir"), ErrIsDir},
		{protocol.Entry{Name: "dir", Kind: protocol.KindSymlink, Target: "x"}, ErrIsDir},
	}
	for _, c := range checks {
		if err := put(r, c.e); !errors.Is(err, c.want) {
			t.Errorf("%s %q = %v, want %v", c.e.Kind, c.e.Name, err, c.want)
		}
	}
}
