//go:build unix

package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// maxStrictDepth bounds the walk up the directory tree: no real path has
// this many levels, so a longer walk means a loop.
const maxStrictDepth = 256

func (m StrictModes) uid() uint32 {
	if m.UID < 0 {
		return uint32(os.Geteuid())
	}
	return uint32(m.UID)
}

func (m StrictModes) check(path string) error {
	if path == "" {
		return nil // no file: nobody is authorized
	}
	real, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("auth: resolving %s: %w", path, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %q is not a regular file", ErrKeyPermissions, path)
	}
	if err := m.checkEntry(real, fi); err != nil {
		return err
	}
	return m.walkUp(real, func(dir string, fi fs.FileInfo) error { return m.checkEntry(dir, fi) })
}

// walkUp calls f for each directory the rule checks above the file at
// real, stopping as the StrictModes doc says.
func (m StrictModes) walkUp(real string, f func(dir string, fi fs.FileInfo) error) error {
	home := ""
	if m.Home != "" {
		if h, err := filepath.EvalSymlinks(m.Home); err == nil {
			home = h
		}
	}
	dir := filepath.Dir(real)
	for range maxStrictDepth {
		fi, err := os.Lstat(dir)
		if err != nil {
			return fmt.Errorf("auth: %w", err)
		}
		if dir != home && rootSticky(fi) {
			return nil
		}
		if err := f(dir, fi); err != nil {
			return err
		}
		parent := filepath.Dir(dir)
		if dir == home || parent == dir {
			return nil
		}
		dir = parent
	}
	return fmt.Errorf("%w: %q is nested too deeply", ErrKeyPermissions, real)
}

// rootSticky reports a root-owned directory with the sticky bit, such as
// /tmp: others may create entries there but not replace ours.
func rootSticky(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == 0 && fi.Mode()&fs.ModeSticky != 0
}

// checkEntry refuses a file or directory that group or others may write,
// or that someone other than the account or root owns.
func (m StrictModes) checkEntry(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("%w: bad permissions %04o for %q: writable by group or others (chmod go-w %s)",
			ErrKeyPermissions, perm, path, path)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && st.Uid != 0 && st.Uid != m.uid() {
		return fmt.Errorf("%w: %q is owned by uid %d, not by uid %d or root", ErrKeyPermissions, path, st.Uid, m.uid())
	}
	return nil
}

// Version identifies the state of an authorized_keys file and of the
// directories StrictModes checks above it, cheaply (a few stat calls):
// when it changes, the file's keys or their trust may have changed and the
// file must be read again. A chmod or chown changes it too, so a file made
// safe again is noticed. Missing files and unreadable paths have versions
// too, so a file that appears is noticed.
func (m StrictModes) Version(path string) string {
	var b strings.Builder
	fi, err := os.Stat(path)
	if path == "" || err != nil {
		return "missing"
	}
	writeVersion(&b, fi, true)
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return b.String()
	}
	_ = m.walkUp(real, func(_ string, fi fs.FileInfo) error { writeVersion(&b, fi, false); return nil })
	return b.String()
}

// writeVersion appends what identifies fi's state: owner, mode and inode;
// for the file itself also size, modification and change times.
func writeVersion(b *strings.Builder, fi fs.FileInfo, file bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	for _, v := range []uint64{uint64(st.Ino), uint64(st.Uid), uint64(st.Gid), uint64(fi.Mode())} {
		b.WriteString(strconv.FormatUint(v, 36))
		b.WriteByte(':')
	}
	if file {
		for _, v := range []int64{fi.Size(), fi.ModTime().UnixNano(), ctimeNanos(st)} {
			b.WriteString(strconv.FormatInt(v, 36))
			b.WriteByte(':')
		}
	}
	b.WriteByte('/')
}

// checkFile checks the opened file itself: a regular file passing
// checkEntry (the walk checked it by name; this is the one read).
func (m StrictModes) checkFile(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %q is not a regular file", ErrKeyPermissions, path)
	}
	return m.checkEntry(path, fi)
}
