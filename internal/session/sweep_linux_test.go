package session

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// requireCgroupV2 skips only when this host has no cgroup v2 for this
// process; when it has one, failing to create a cgroup is a failure as
// root, where it must work (unprivileged, it is a skip).
func requireCgroupV2(t *testing.T) {
	t.Helper()
	if _, err := ownCgroupDir(); err != nil {
		t.Skipf("no cgroup v2 here: %v", err)
	}
	if canCgroup() {
		return
	}
	if os.Geteuid() == 0 {
		t.Fatal("cgroup v2 is mounted but this root process cannot create a cgroup in its own")
	}
	t.Skip("cgroup v2 is mounted but not delegated to this user")
}

// privateParent makes a cgroup under this process's own in which a test
// plays the daemons' parent cgroup, so no other test's sessions are
// touched; it is removed, with what is left in it, at the end.
func privateParent(t *testing.T) string {
	t.Helper()
	base, err := cgroupBase(false)
	if err != nil {
		t.Fatal(err)
	}
	parent := filepath.Join(base, "sweeptest-"+newID())
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c := &cgroup{dir: parent, fd: -1, subtree: true}
		if c.populated() {
			_, statErr := os.Stat(filepath.Join(parent, "cgroup.kill"))
			c.useKill = statErr == nil
			c.kill()
		}
		eventually(5*time.Second, func() bool { return !c.populated() })
		if err := removeTree(parent, maxLeftoverDepth); err != nil {
			t.Errorf("removing %s: %v", parent, err)
		}
	})
	return parent
}

// mkCgroup creates dir (and its parents below the test's parent).
func mkCgroup(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// sleeper is a `sleep` process moved into a cgroup, and whether it has
// been reaped.
type sleeper struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once Wait returned
}

// sleepIn starts sleep and moves it into cgroup dir.
func sleepIn(t *testing.T, dir string) *sleeper {
	t.Helper()
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &sleeper{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-s.done })
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	return s
}

// exited reports whether the sleeper ended within d (already, for 0).
func (s *sleeper) exited(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-s.done:
		return true
	default:
	}
	select {
	case <-s.done:
		return true
	case <-timer.C:
		return false
	}
}

// deadOwner returns the identity of a process that ran and is gone.
func deadOwner(t *testing.T) cgroupOwner {
	t.Helper()
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	o := ownerOf(t, cmd.Process.Pid)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return o
}

// ownerOf reads pid's identity from /proc.
func ownerOf(t *testing.T, pid int) cgroupOwner {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	start, _, ok := parseStatStart(b)
	if !ok {
		t.Fatalf("cannot parse %q", b)
	}
	return cgroupOwner{pid: pid, start: start}
}

// TestSweepCgroups: in a parent cgroup shared by "daemons", the sweep
// kills and removes the populated session cgroups whose owner is gone
// (dead, or its pid reused by another process), child cgroups and all,
// and removes the empty ones of gone owners at any age; it never touches
// a live owner's cgroups, populated or empty, nor anything not named like
// a session cgroup. Owner-less (old) names keep the old rule: only empty
// and older than the age.
func TestSweepCgroups(t *testing.T) {
	requireCgroupV2(t)
	parent := privateParent(t)
	dead := deadOwner(t)
	self := ownerOf(t, os.Getpid())
	if o, ok := selfOwner(); !ok || o != self {
		t.Fatalf("selfOwner = %+v, %v; want %+v", o, ok, self)
	}
	reused := cgroupOwner{pid: self.pid, start: self.start + 1} // same pid, another process
	path := func(o cgroupOwner, id string) string { return filepath.Join(parent, formatCgroupName(o, id)) }

	deadBusy := mkCgroup(t, path(dead, "busy"))
	deadNested := mkCgroup(t, filepath.Join(deadBusy, "inner", "deeper"))
	deadEmpty := mkCgroup(t, path(dead, "empty"))
	reusedBusy := mkCgroup(t, path(reused, "busy"))
	liveBusy := mkCgroup(t, path(self, "busy"))
	liveEmpty := mkCgroup(t, path(self, "empty"))
	oldEmpty := mkCgroup(t, filepath.Join(parent, cgroupPrefix+"0123456789abcdef"))
	oldBusy := mkCgroup(t, filepath.Join(parent, cgroupPrefix+"fedcba9876543210"))
	other := mkCgroup(t, filepath.Join(parent, "other"))
	victims := []*sleeper{sleepIn(t, deadBusy), sleepIn(t, deadNested), sleepIn(t, reusedBusy)}
	survivors := []*sleeper{sleepIn(t, liveBusy), sleepIn(t, oldBusy), sleepIn(t, other)}

	// Young: the gone owners' cgroups go, every other one stays.
	res, err := sweepCgroups(parent, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, k := range res.Killed {
		if k.Err != nil {
			t.Errorf("killed %s with error %v", k.Name, k.Err)
		}
		got[k.Name] = k.Procs
	}
	want := map[string]int{filepath.Base(deadBusy): 2, filepath.Base(reusedBusy): 1}
	if len(got) != len(want) || got[filepath.Base(deadBusy)] != 2 || got[filepath.Base(reusedBusy)] != 1 || res.Removed != 1 {
		t.Errorf("sweep killed %v and removed %d; want %v and 1 (%s)", got, res.Removed, want, filepath.Base(deadEmpty))
	}
	for _, s := range victims {
		if !s.exited(time.Second) {
			t.Errorf("sleep %d in a gone owner's cgroup survived the sweep", s.cmd.Process.Pid)
		}
	}
	for _, s := range survivors {
		if s.exited(0) {
			t.Errorf("sleep %d outside a gone owner's cgroups was killed", s.cmd.Process.Pid)
		}
	}
	exists := func(dir string) bool { _, err := os.Stat(dir); return err == nil }
	for dir, want := range map[string]bool{deadBusy: false, deadEmpty: false, reusedBusy: false,
		liveBusy: true, liveEmpty: true, oldEmpty: true, oldBusy: true, other: true} {
		if exists(dir) != want {
			t.Errorf("%s exists = %v after the sweep, want %v", filepath.Base(dir), !want, want)
		}
	}

	// Old: the owner-less empty one goes too; nothing else changes.
	res, err = sweepCgroups(parent, time.Minute, time.Now().Add(2*time.Minute))
	if err != nil || res.Removed != 1 || len(res.Killed) != 0 {
		t.Errorf("second sweep = %+v, %v; want 1 removed, nothing killed", res, err)
	}
	for dir, want := range map[string]bool{oldEmpty: false, liveBusy: true, liveEmpty: true, oldBusy: true, other: true} {
		if exists(dir) != want {
			t.Errorf("%s exists = %v after the second sweep, want %v", filepath.Base(dir), !want, want)
		}
	}
	for _, s := range survivors {
		if s.exited(0) {
			t.Errorf("sleep %d outside a gone owner's cgroups was killed", s.cmd.Process.Pid)
		}
	}
}

// TestLeftoverKillFreeze: without cgroup.kill, a leftover's processes in
// child cgroups are killed too (freeze, SIGKILL, thaw).
func TestLeftoverKillFreeze(t *testing.T) {
	requireCgroupV2(t)
	parent := privateParent(t)
	dir := mkCgroup(t, filepath.Join(parent, formatCgroupName(deadOwner(t), "frozen")))
	nested := mkCgroup(t, filepath.Join(dir, "inner"))
	a, b := sleepIn(t, dir), sleepIn(t, nested)
	c := &cgroup{dir: dir, fd: -1, subtree: true}
	if got := c.procs(); len(got) != 2 || !slices.Contains(got, a.cmd.Process.Pid) || !slices.Contains(got, b.cmd.Process.Pid) {
		t.Fatalf("procs = %v, want %d and %d", got, a.cmd.Process.Pid, b.cmd.Process.Pid)
	}
	c.kill()
	if !a.exited(2*time.Second) || !b.exited(2*time.Second) {
		t.Fatal("freeze + SIGKILL left a process of the leftover alive")
	}
	if err := removeTree(dir, maxLeftoverDepth); err != nil {
		t.Errorf("removeTree: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there: %v", dir, err)
	}
}

// TestSessionCgroupOwner: a session's cgroup is named with this process
// as its owner, which the sweep sees as alive.
func TestSessionCgroupOwner(t *testing.T) {
	requireCgroupV2(t)
	p, err := Start(Spec{Argv: []string{"sleep", "1000"}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeProcess(t, p)
	if p.sys.tree.cg == nil {
		t.Fatal("session started without a cgroup")
	}
	o, id, ok := parseCgroupName(filepath.Base(p.sys.tree.cg.dir))
	if !ok || id != p.ID() || o != ownerOf(t, os.Getpid()) || !ownerAlive(o) {
		t.Errorf("cgroup %s: owner %+v (alive %v), id %q, ok %v; want this process and %s",
			p.sys.tree.cg.dir, o, ownerAlive(o), id, ok, p.ID())
	}
}

// TestOwnerAlive: a process that exists with the same start time is
// alive; a gone one, a reused pid and a zombie are not.
func TestOwnerAlive(t *testing.T) {
	self := ownerOf(t, os.Getpid())
	zombie := exec.Command("true")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	zo := ownerOf(t, zombie.Process.Pid)
	var info unix.Siginfo // wait for the exit, leaving the zombie
	if err := unix.Waitid(unix.P_PID, zombie.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	defer zombie.Wait()
	tests := []struct {
		name  string
		owner cgroupOwner
		alive bool
	}{
		{"self", self, true},
		{"gone", deadOwner(t), false},
		{"reused pid", cgroupOwner{pid: self.pid, start: self.start + 1}, false},
		{"zombie", zo, false},
		{"no such pid", cgroupOwner{pid: maxPid, start: 1}, false},
	}
	for _, tt := range tests {
		if got := ownerAlive(tt.owner); got != tt.alive {
			t.Errorf("%s: ownerAlive(%+v) = %v, want %v", tt.name, tt.owner, got, tt.alive)
		}
	}
}

func TestParseStatStart(t *testing.T) {
	full := func(comm, state string, start string) string {
		return "42 (" + comm + ") " + state + " 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 " + start + " 1000 200 18446744073709551615"
	}
	tests := []struct {
		in    string
		start uint64
		state byte
		ok    bool
	}{
		{full("sleep", "S", "123456"), 123456, 'S', true},
		{full("a) (b", "Z", "7"), 7, 'Z', true},
		{full("x", "R", "18446744073709551615"), 1<<64 - 1, 'R', true},
		{full("x", "R", "18446744073709551616"), 0, 0, false},
		{full("x", "R", "-1"), 0, 0, false},
		{"42 (sleep) S 1 42 42", 0, 0, false},
		{"42 sleep S", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		start, state, ok := parseStatStart([]byte(tt.in))
		if start != tt.start || state != tt.state || ok != tt.ok {
			t.Errorf("parseStatStart(%q) = %d, %q, %v; want %d, %q, %v", tt.in, start, state, ok, tt.start, tt.state, tt.ok)
		}
	}
}
