//go:build unix

package auth

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestStrictModes walks real directory trees: a temporary directory stands
// for the account's home, and t.TempDir sits under the root-owned sticky
// os.TempDir, where a walk without a home stops.
func TestStrictModes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another owner")
	}
	const other = 65534 // nobody
	tests := []struct {
		name  string
		setup func(home, rexec, file string)
		home  bool // pass home as StrictModes.Home
		want  error
	}{
		{"all private", func(_, _, _ string) {}, true, nil},
		{"file 0664", func(_, _, f string) { os.Chmod(f, 0o664) }, true, ErrKeyPermissions},
		{"file 0606", func(_, _, f string) { os.Chmod(f, 0o606) }, true, ErrKeyPermissions},
		{"file world-readable is fine", func(_, _, f string) { os.Chmod(f, 0o644) }, true, nil},
		{"file of another user", func(_, _, f string) { os.Chown(f, other, other) }, true, ErrKeyPermissions},
		{"rexec home group-writable", func(_, r, _ string) { os.Chmod(r, 0o770) }, true, ErrKeyPermissions},
		{"rexec home of another user", func(_, r, _ string) { os.Chown(r, other, other) }, true, ErrKeyPermissions},
		{"home writable by others", func(h, _, _ string) { os.Chmod(h, 0o757) }, true, ErrKeyPermissions},
		{"home of another user", func(h, _, _ string) { os.Chown(h, other, other) }, true, ErrKeyPermissions},
		{"middle directory group-writable", func(h, _, _ string) { os.Chmod(filepath.Join(h, ".config"), 0o775) }, true, ErrKeyPermissions},
		{"sticky but not root-owned is checked", func(_, r, _ string) {
			os.Chmod(r, 0o1777)
			os.Chown(r, other, other)
		}, true, ErrKeyPermissions},
		{"no home: up to the sticky temp dir", func(_, _, _ string) {}, false, nil},
		{"no home: group-writable parent", func(h, _, _ string) { os.Chmod(h, 0o775) }, false, ErrKeyPermissions},
		{"symlink to a writable place", func(h, _, f string) {
			bad := filepath.Join(h, "public")
			os.Mkdir(bad, 0o777)
			os.Chmod(bad, 0o777)
			os.WriteFile(filepath.Join(bad, "k"), nil, 0o600)
			os.Remove(f)
			os.Symlink(filepath.Join(bad, "k"), f)
		}, true, ErrKeyPermissions},
		{"not a regular file", func(_, _, f string) { os.Remove(f); os.Mkdir(f, 0o700) }, true, ErrKeyPermissions},
		{"missing file", func(_, _, f string) { os.Remove(f) }, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "home")
			rexec := filepath.Join(home, ".config", "rexec")
			if err := os.MkdirAll(rexec, 0o700); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(rexec, "authorized_keys")
			os.WriteFile(file, []byte("ssh-ed25519 "+fixtureB64+"\n"), 0o600)
			tt.setup(home, rexec, file)
			m := StrictModes{UID: 0}
			if tt.home {
				m.Home = home
			}
			err := m.Check(file)
			if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
			keys, _, lerr := LoadAuthorizedKeys(file, m)
			if (lerr != nil) != (tt.want != nil) {
				t.Fatalf("LoadAuthorizedKeys = %v, %v; want error %v", keys, lerr, tt.want)
			}
		})
	}
}

// TestStrictModesVersion: a chmod of the file or of a directory the walk
// checks changes the version, so a server notices a file made unsafe (or
// safe again) without a signal; a write elsewhere does not.
func TestStrictModesVersion(t *testing.T) {
	home := t.TempDir()
	rexec := filepath.Join(home, "rexec")
	os.Mkdir(rexec, 0o700)
	file := filepath.Join(rexec, "authorized_keys")
	m := StrictModes{UID: -1, Home: home}
	if m.Version(file) != "missing" {
		t.Fatalf("Version(missing) = %q", m.Version(file))
	}
	os.WriteFile(file, []byte("x\n"), 0o600)
	steps := []struct {
		name    string
		do      func()
		changes bool
	}{
		{"nothing", func() {}, false},
		{"a sibling file", func() { os.WriteFile(filepath.Join(rexec, "other"), nil, 0o600) }, false},
		{"chmod file", func() { os.Chmod(file, 0o660) }, true},
		{"chmod dir", func() { os.Chmod(rexec, 0o770) }, true},
		{"chmod home", func() { os.Chmod(home, 0o777) }, true},
		{"rewrite", func() { os.WriteFile(file, []byte("y\n"), 0o600) }, true},
	}
	prev := m.Version(file)
	for _, s := range steps {
		s.do()
		v := m.Version(file)
		if (v != prev) != s.changes {
			t.Errorf("%s: version changed = %v, want %v", s.name, v != prev, s.changes)
		}
		prev = v
	}
}
