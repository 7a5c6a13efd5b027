//go:build linux

package utmp

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWhoAndLastRead: records written here are what who(1) and last(1)
// read: a logged-in session shows in who, and after Logout, last shows it
// with its host and no longer logged in.
func TestWhoAndLastRead(t *testing.T) {
	for _, tool := range []string{"who", "last"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (coreutils, util-linux)", tool)
		}
	}
	dir := t.TempDir()
	f := Files{Utmp: filepath.Join(dir, "utmp"), Wtmp: filepath.Join(dir, "wtmp")}
	start := time.Now().Add(-time.Minute)
	other := Entry{Line: "pts/7", User: "bob", Host: "192.0.2.9", PID: 4321, Time: start}
	e := Entry{Line: "pts/42", User: "alice", Host: "192.0.2.7", Addr: netip.MustParseAddr("192.0.2.7"), PID: 1234, Time: start}
	for _, x := range []Entry{other, e} {
		if err := f.Login(x); err != nil {
			t.Fatal(err)
		}
	}
	who, err := exec.Command("who", f.Utmp).Output()
	if err != nil || !strings.Contains(string(who), "alice") || !strings.Contains(string(who), "pts/42") ||
		!strings.Contains(string(who), "bob") {
		t.Fatalf("who = %q, %v", who, err)
	}
	if err := f.Logout("pts/42", 1234, time.Now()); err != nil {
		t.Fatal(err)
	}
	who, _ = exec.Command("who", f.Utmp).Output()
	if strings.Contains(string(who), "alice") || !strings.Contains(string(who), "bob") {
		t.Errorf("who after logout = %q: alice's slot should be dead, bob's kept", who)
	}
	if fi, _ := os.Stat(f.Utmp); fi.Size() != 2*recordSize {
		t.Errorf("utmp has %d bytes, want two slots (alice's reused)", fi.Size())
	}
	last, err := exec.Command("last", "-f", f.Wtmp, "-i").Output()
	var aliceLine string
	for _, l := range strings.Split(string(last), "\n") {
		if strings.HasPrefix(l, "alice") {
			aliceLine = l
		}
	}
	if err != nil || !strings.Contains(aliceLine, "192.0.2.7") || strings.Contains(aliceLine, "still logged in") {
		t.Errorf("last = %q, %v; want alice from 192.0.2.7, logged out", last, err)
	}
}

func TestLineID(t *testing.T) {
	for in, want := range map[string]string{"pts/3": "ts/3", "pts/123": "/123", "tty1": "tty1"} {
		if got := lineID(in); got != want {
			t.Errorf("lineID(%q) = %q, want %q", in, got, want)
		}
	}
}
