package session

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mechanisms are the kill set-ups every tree test runs under.
var mechanisms = []struct {
	name      string
	noCgroup  bool
	noKill    bool // cgroup without cgroup.kill: freeze + SIGKILL
	subreaper bool
}{
	{name: "cgroup"},
	{name: "cgroup-freeze", noKill: true},
	{name: "sweep", noCgroup: true},
	{name: "sweep-subreaper", noCgroup: true, subreaper: true},
	{name: "cgroup-subreaper", subreaper: true},
}

// startTree starts spec under mechanism m and checks the mechanism used.
func startTree(t *testing.T, spec Spec, noCgroup, noKill, subreaper bool) *Process {
	t.Helper()
	if subreaper {
		stop, err := EnableSubreaper(context.Background())
		if err != nil {
			t.Fatalf("EnableSubreaper = %v", err)
		}
		t.Cleanup(stop)
	}
	if !noCgroup && !canCgroup() {
		t.Skip("cannot create cgroups here")
	}
	spec.noCgroup, spec.noCgroupKill = noCgroup, noKill
	p, err := Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	want := MechanismCgroup
	if noCgroup {
		want = MechanismSweep
	}
	if got := p.Mechanism(); got != want {
		t.Errorf("Mechanism() = %q, want %q", got, want)
	}
	return p
}

// checkGone fails unless no "sleep dur" is alive within 2 s of start.
func checkGone(t *testing.T, start time.Time, durs ...string) {
	t.Helper()
	for _, d := range durs {
		if !eventually(time.Until(start.Add(2*time.Second)), func() bool { return len(sleepers(d)) == 0 }) {
			t.Errorf("sleep %s still alive (pids %v) 2 s after KillTree", d, sleepers(d))
			for _, pid := range sleepers(d) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

func waitStarted(t *testing.T, durs ...string) {
	t.Helper()
	for _, d := range durs {
		if !eventually(5*time.Second, func() bool { return len(sleepers(d)) == 1 }) {
			t.Fatalf("sleep %s did not start", d)
		}
	}
}

// TestKillTreeBackgroundAndSetsid kills a running tree whose children
// went to the background and into a new session.
func TestKillTreeBackgroundAndSetsid(t *testing.T) {
	for _, m := range mechanisms {
		t.Run(m.name, func(t *testing.T) {
			a, b := uniqueSleep(1000), uniqueSleep(1001)
			p := startTree(t, Spec{Command: fmt.Sprintf("sleep %s & setsid sleep %s & wait", a, b)}, m.noCgroup, m.noKill, m.subreaper)
			defer closeProcess(t, p)
			waitStarted(t, a, b)
			start := time.Now()
			p.KillTree(500 * time.Millisecond)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("KillTree took %v, want < 2s", d)
			}
			checkGone(t, start, a, b)
			if st := waitTimeout(t, p, time.Second); st.Signal != syscall.SIGTERM {
				t.Errorf("status = %v, want killed by SIGTERM", st)
			}
		})
	}
}

// TestKillTreeDoubleFork kills a daemonized grandchild after the main
// process exited normally.
func TestKillTreeDoubleFork(t *testing.T) {
	for _, m := range mechanisms {
		t.Run(m.name, func(t *testing.T) {
			c := uniqueSleep(1002)
			p := startTree(t, Spec{Command: fmt.Sprintf("(setsid sh -c 'sleep %s &' &)", c)}, m.noCgroup, m.noKill, m.subreaper)
			defer closeProcess(t, p)
			if st := waitTimeout(t, p, 5*time.Second); st != (Status{}) {
				t.Errorf("status = %v, want exit 0", st)
			}
			waitStarted(t, c)
			if m.subreaper {
				checkAdopted(t, sleepers(c)[0])
			}
			start := time.Now()
			p.KillTree(500 * time.Millisecond)
			checkGone(t, start, c)
			if m.subreaper && !eventually(2*time.Second, func() bool { return len(zombieChildren()) == 0 }) {
				t.Errorf("zombie children %v not reaped", zombieChildren())
			}
		})
	}
}

// TestKillTreeIgnoresTERM needs the SIGKILL phase: the tree ignores SIGTERM.
func TestKillTreeIgnoresTERM(t *testing.T) {
	for _, m := range mechanisms[:3] {
		t.Run(m.name, func(t *testing.T) {
			a, b := uniqueSleep(1003), uniqueSleep(1004)
			cmd := fmt.Sprintf("trap '' TERM; sleep %s & setsid sh -c 'trap \"\" TERM; sleep %s' & wait", a, b)
			p := startTree(t, Spec{Command: cmd}, m.noCgroup, m.noKill, m.subreaper)
			defer closeProcess(t, p)
			waitStarted(t, a, b)
			start := time.Now()
			p.KillTree(200 * time.Millisecond)
			checkGone(t, start, a, b)
			if st := waitTimeout(t, p, time.Second); st.Signal != syscall.SIGKILL {
				t.Errorf("status = %v, want killed by SIGKILL", st)
			}
		})
	}
}

// TestKillTreeSparesOthers: killing one session leaves another alone.
func TestKillTreeSparesOthers(t *testing.T) {
	for _, m := range mechanisms[:3] {
		t.Run(m.name, func(t *testing.T) {
			a, b := uniqueSleep(1005), uniqueSleep(1006)
			p1 := startTree(t, Spec{Command: "setsid sleep " + a}, m.noCgroup, m.noKill, false)
			defer closeProcess(t, p1)
			p2 := startTree(t, Spec{Command: "setsid sleep " + b}, m.noCgroup, m.noKill, false)
			defer closeProcess(t, p2)
			waitStarted(t, a, b)
			p1.KillTree(100 * time.Millisecond)
			checkGone(t, time.Now(), a)
			if len(sleepers(b)) != 1 {
				t.Errorf("other session's sleep %s was killed", b)
			}
		})
	}
}

// TestReaperKeepsMainStatus: with the subreaper reaping, every main
// process still reports its own status.
func TestReaperKeepsMainStatus(t *testing.T) {
	stop, err := EnableSubreaper(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for i := 0; i < 20; i++ {
		if st := run(t, Spec{Command: fmt.Sprintf("(sleep 0.01 &); exit %d", i)}, "").status; st.Code != i {
			t.Fatalf("run %d: status = %v, want exit %d", i, st, i)
		}
	}
	if _, err := EnableSubreaper(context.Background()); err == nil {
		t.Error("second EnableSubreaper succeeded, want error")
	}
}

// checkAdopted fails unless pid was reparented to this (subreaper) process.
func checkAdopted(t *testing.T, pid int) {
	t.Helper()
	for _, pi := range listProcs() {
		if pi.pid == pid && pi.ppid != os.Getpid() {
			t.Errorf("orphan %d has parent %d, want the subreaper %d", pid, pi.ppid, os.Getpid())
		}
	}
}

// zombieChildren lists zombie children that are not registered mains.
func zombieChildren() []int {
	var z []int
	for _, pi := range listProcs() {
		if pi.ppid == os.Getpid() && pi.state == 'Z' && !isMain(pi.pid) {
			z = append(z, pi.pid)
		}
	}
	return z
}

func TestCgroupCleanup(t *testing.T) {
	if !canCgroup() {
		t.Skip("cannot create cgroups here")
	}
	p, err := Start(Spec{Command: "sleep 100"})
	if err != nil {
		t.Fatal(err)
	}
	dir := p.sys.tree.cg.dir
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("cgroup dir: %v", err)
	}
	closeProcess(t, p)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cgroup dir %s after Close: %v, want removed", dir, err)
	}
}

// TestCgroupBaseRefreshed: the daemon's cgroup directory is looked up
// once; should it vanish (the daemon was moved), the next session looks
// it up again rather than failing to create its cgroup.
func TestCgroupBaseRefreshed(t *testing.T) {
	if !canCgroup() {
		t.Skip("cannot create cgroups here")
	}
	want, err := cgroupBase(false)
	if err != nil {
		t.Fatal(err)
	}
	ownCgroup.Lock()
	ownCgroup.dir = filepath.Join(t.TempDir(), "gone")
	ownCgroup.Unlock()
	cg, err := newCgroup("refresh-"+newID(), false, "")
	if err != nil {
		t.Fatalf("newCgroup after the cached cgroup vanished: %v", err)
	}
	defer cg.remove()
	if got := filepath.Dir(cg.dir); got != want {
		t.Errorf("session cgroup made in %s, want %s", got, want)
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		in   string
		want procInfo
		ok   bool
	}{
		{"42 (sleep) S 1 42 7 0 -1", procInfo{pid: 42, ppid: 1, pgrp: 42, sid: 7, state: 'S'}, true},
		{"43 (a) b) (c) Z 42 42 7 0", procInfo{pid: 43, ppid: 42, pgrp: 42, sid: 7, state: 'Z'}, true},
		{"45 (sh) R 1 45 45 0 -1 4194560 0", procInfo{pid: 45, ppid: 1, pgrp: 45, sid: 45, state: 'R'}, true},
		{"49 (sh) R 1 49 49 0 -1 4194564 0", procInfo{pid: 49, ppid: 1, pgrp: 49, sid: 49, state: 'R', exiting: true}, true},
		{"46 (kworker/0:1) I 2 0 0 0 -1 69238880 0", procInfo{pid: 46, ppid: 2, state: 'I', kthread: true}, true},
		{"47 (odd) S 1 47 47 0 -1 notanumber", procInfo{pid: 47, ppid: 1, pgrp: 47, sid: 47, state: 'S'}, true},
		{"48 (sleep) S 1 48 48 0 -1 4194304" + strings.Repeat(" 0", 40) + " 140735186082510 140735186083819 0",
			procInfo{pid: 48, ppid: 1, pgrp: 48, sid: 48, state: 'S', env: envBounds{140735186082510, 140735186083819}}, true},
		{"44 (x", procInfo{}, false},
		{"x (y) S 1 2 3", procInfo{}, false},
	}
	for _, tt := range tests {
		got, ok := parseStat([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseCgroupFiles(t *testing.T) {
	if got, err := parseOwnCgroup([]byte("4:memory:/x\n0::/user.slice/s\n")); got != "/user.slice/s" || err != nil {
		t.Errorf("parseOwnCgroup = %q, %v; want /user.slice/s", got, err)
	}
	if _, err := parseOwnCgroup([]byte("4:memory:/x\n")); err == nil {
		t.Error("parseOwnCgroup without 0:: succeeded")
	}
	mnt, root, ok := parseMountinfoLine(`40 30 0:37 /sub /sys/fs/cgroup/uni\040fied rw,relatime - cgroup2 cgroup2 rw`)
	if mnt != "/sys/fs/cgroup/uni fied" || root != "/sub" || !ok {
		t.Errorf("parseMountinfoLine = %q, %q, %v", mnt, root, ok)
	}
	if _, _, ok := parseMountinfoLine(`31 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu`); ok {
		t.Error("parseMountinfoLine accepted a cgroup v1 mount")
	}
}

// TestReaperCoalescesSignals: a burst of session ends (each a SIGCHLD)
// costs at most one scan per reapSpacing, and the orphans those sessions
// left are still reaped.
func TestReaperCoalescesSignals(t *testing.T) {
	stop, err := EnableSubreaper(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	time.Sleep(2 * reapSpacing) // the first scan, at start, is done
	before, start := reapScans.Load(), time.Now()
	const sessions = 40
	for i := 0; i < sessions; i++ {
		if st := run(t, Spec{Command: "(true &); exit 0"}, "").status; st.Code != 0 {
			t.Fatalf("run %d: status = %v", i, st)
		}
	}
	elapsed := time.Since(start)
	scans := reapScans.Load() - before
	if max := int64(elapsed/reapSpacing) + 2; scans > max {
		t.Errorf("%d scans for %d session ends in %v, want at most %d (one per %v)", scans, sessions, elapsed, max, reapSpacing)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(zombieChildren()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if z := zombieChildren(); len(z) > 0 {
		t.Errorf("zombies left unreaped: %v", z)
	}
}

// TestSweepSeesProcessMidExec: the /proc sweep finds a marked process
// that execs again and again (as a shell's just-forked child execs its
// command) in every scan that finds it alive before and after, and never
// lists a process whose environment is empty (env -i). A read cut short
// by an exec, or taken inside execve, once dropped such a process.
func TestSweepSeesProcessMidExec(t *testing.T) {
	const marker = MarkerVar + "=sweep-exec-chain"
	bare := exec.Command("env", "-i", "sleep", "30")
	bare.Env = append(os.Environ(), marker)
	if err := bare.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bare.Process.Kill(); _ = bare.Wait() })
	for i := 0; i < 500 && !bareExeced(bare.Process.Pid); i++ {
		time.Sleep(10 * time.Millisecond) // env, which carries the marker, execs sleep without it
	}
	script := filepath.Join(t.TempDir(), "chain")
	// each run execs itself with one less, 400 execs in all, then exits
	body := "#!/bin/sh\n[ \"$1\" -gt 0 ] && exec \"$0\" $(($1 - 1))\nexit 0\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script, "400")
	cmd.Env = append(os.Environ(), marker)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	pid := cmd.Process.Pid
	scans, missed := 0, 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); scans++ {
		before := liveProc(pid)
		got := sessionMembers(marker, 0, false)
		if !before || !liveProc(pid) {
			break
		}
		if !slices.Contains(got, pid) {
			missed++
		}
		if slices.Contains(got, bare.Process.Pid) {
			t.Fatalf("sweep listed %d, whose environment is empty", bare.Process.Pid)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("exec chain: %v", err)
	}
	if scans == 0 || missed > 0 {
		t.Errorf("%d of %d sweeps missed the live marked process %d, want none of at least one", missed, scans, pid)
	}
}

// liveProc reports whether pid is a process that is neither gone, nor a
// zombie, nor on its way out (exiting, its memory perhaps already gone).
func liveProc(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", procRoot, pid))
	if err != nil {
		return false
	}
	p, ok := parseStat(b)
	return ok && !p.dead() && !p.exiting
}

// bareExeced reports whether pid runs sleep, with whatever environment
// it was given.
func bareExeced(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/comm", procRoot, pid))
	return err == nil && string(b) == "sleep\n"
}

// FuzzParseStat: the stat parsers never panic; a line parseStat takes
// has a numeric pid before the name, a one-byte state after it, and
// environment bounds only when the line has them, in order.
func FuzzParseStat(f *testing.F) {
	f.Add("42 (sleep) S 1 42 7 0 -1")
	f.Add("43 (a) b) (c) Z 42 42 7 0")
	f.Add("46 (kworker/0:1) I 2 0 0 0 -1 69238880 0")
	f.Add("48 (sleep) S 1 48 48 0 -1 4194308" + strings.Repeat(" 0", 40) + " 140735186082510 140735186083819 0")
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, line string) {
		_, _, _ = parseStatStart([]byte(line))
		p, ok := parseStat([]byte(line))
		if !ok {
			return
		}
		if n, err := strconv.Atoi(strings.TrimSpace(line[:strings.IndexByte(line, '(')])); err != nil || n != p.pid {
			t.Fatalf("%q: pid %d, want the number before the name", line, p.pid)
		}
		rest := strings.Fields(line[strings.LastIndexByte(line, ')')+1:])
		if len(rest[0]) != 1 || rest[0][0] != p.state {
			t.Fatalf("%q: state %q, want the field after the name", line, p.state)
		}
		if len(rest) <= statEnvEndField && p.env != (envBounds{}) {
			t.Fatalf("%q: environment bounds %+v from a line without them", line, p.env)
		}
	})
}
