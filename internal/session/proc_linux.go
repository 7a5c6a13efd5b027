package session

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"
	"time"
)

// procRoot is where the sweep looks for processes.
const procRoot = "/proc"

// procInfo is the part of /proc/PID/stat the sweep and the reaper need.
type procInfo struct {
	pid, ppid, pgrp, sid int
	state                byte
	// kthread marks a kernel thread, which has no environment to read.
	kthread bool
	// exiting marks a process inside exit(2): its memory, environment
	// included, may already be gone, though it is not yet a zombie.
	exiting bool
	// env is where the environment block lies in the process's memory,
	// as stat showed it: zero while an execve is placing it (or when
	// hidden from the reader).
	env envBounds
}

// envBounds are env_start and env_end of /proc/PID/stat (fields 50 and
// 51). They change with every execve (the stack is placed at random) and
// give the block's length, so the sweep can tell whether a read of
// /proc/PID/environ saw the whole block of one image.
type envBounds struct{ start, end uint64 }

// Fields of /proc/PID/stat counted among those after comm's closing
// parenthesis, which begin with field 3 (state).
const (
	statFlagsField    = 9 - 3
	statEnvStartField = 50 - 3
	statEnvEndField   = 51 - 3
)

// Flags of /proc/PID/stat (field 9): PF_EXITING and PF_KTHREAD.
const (
	pfExiting = 0x00000004
	pfKthread = 0x00200000
)

// dead reports a zombie or an exiting task: nothing left to kill.
func (p procInfo) dead() bool { return p.state == 'Z' || p.state == 'X' || p.state == 'x' }

// listProcs reads the stat line of every process. Processes that vanish
// while it runs are skipped.
func listProcs() []procInfo {
	d, err := os.Open(procRoot)
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	procs := make([]procInfo, 0, len(names))
	for _, name := range names {
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		b, err := os.ReadFile(procRoot + "/" + name + "/stat")
		if err != nil {
			continue
		}
		if pi, ok := parseStat(b); ok {
			procs = append(procs, pi)
		}
	}
	return procs
}

// parseStat parses proc_pid_stat(5): "pid (comm) state ppid pgrp session
// ...". comm may contain spaces and parentheses, so it ends at the last ')'.
func parseStat(b []byte) (procInfo, bool) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 1 || end < open {
		return procInfo{}, false
	}
	rest := bytes.Fields(b[end+1:])
	if len(rest) < 4 || len(rest[0]) != 1 {
		return procInfo{}, false
	}
	var n [4]int
	var err error
	for i, f := range [][]byte{bytes.TrimSpace(b[:open]), rest[1], rest[2], rest[3]} {
		if n[i], err = strconv.Atoi(string(f)); err != nil {
			return procInfo{}, false
		}
	}
	pi := procInfo{pid: n[0], ppid: n[1], pgrp: n[2], sid: n[3], state: rest[0][0]}
	if len(rest) > statFlagsField {
		flags, _ := strconv.ParseUint(string(rest[statFlagsField]), 10, 64)
		pi.kthread = flags&pfKthread != 0
		pi.exiting = flags&pfExiting != 0
	}
	if len(rest) > statEnvEndField {
		pi.env.start, _ = strconv.ParseUint(string(rest[statEnvStartField]), 10, 64)
		pi.env.end, _ = strconv.ParseUint(string(rest[statEnvEndField]), 10, 64)
	}
	return pi, true
}

// statStartField is the index, among the fields after comm's closing
// parenthesis, of starttime: field 22 of proc_pid_stat(5), where that
// list begins with field 3 (state).
const statStartField = 22 - 3

// parseStatStart returns the start time (in clock ticks after boot) and
// the state from a /proc/PID/stat line.
func parseStatStart(b []byte) (start uint64, state byte, ok bool) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, 0, false
	}
	rest := bytes.Fields(b[end+1:])
	if len(rest) <= statStartField || len(rest[0]) != 1 {
		return 0, 0, false
	}
	start, err := strconv.ParseUint(string(rest[statStartField]), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return start, rest[0][0], true
}

// Bounds of environment reads: the buffer starts at envBufStart and
// doubles up to envBufMax (execve itself admits a few MiB of arguments
// and environment); a process whose image changes under the read is read
// again, execTries times at most, a millisecond apart while it is inside
// execve.
const (
	envBufStart = 64 << 10
	envBufMax   = 16 << 20
	execTries   = 100
)

// envReader reads environment blocks from /proc for one sweep, reusing
// its buffer across processes.
type envReader struct{ buf []byte }

// Environ returns process pid's initial environment block (entries ended
// by NUL) as the sweep reads it; nil when unreadable. The tests' process
// scans use it so they see what the sweep sees.
func Environ(pid int) []byte {
	var r envReader
	return r.environ(procInfo{pid: pid})
}

// hasEnv reports whether process p's initial environment holds the exact
// entry kv. Unreadable environments (other users, kernel threads) do not.
func (r *envReader) hasEnv(p procInfo, kv string) bool {
	if p.kthread {
		return false
	}
	b := r.environ(p)
	entry := []byte(kv + "\x00")
	return bytes.HasPrefix(b, entry) || bytes.Contains(b, append([]byte{0}, entry...))
}

// environ reads p's environment block and returns it only when it is the
// whole block of one image. /proc/PID/environ reads the image of the
// moment it was opened: once the process execs, further reads return
// nothing, so a block read in pieces (as os.ReadFile does) can stop short
// of the marker. So the block is read in one call, and stat, read after
// it, must show the bounds it showed before (the listing's, or the last
// look's) and a block as long as the read: otherwise the image changed
// under the read, and it is read again.
//
// A process inside execve is waited for: it shows no bounds yet, or
// refuses the open as if it did not exist (ENOENT, ESRCH), or, while the
// kernel copies its environment, shows an empty block (start = end), just
// as a process started with no environment does. So an empty block counts
// only once its bounds have held across a pause that the process could
// not have spent inside execve, preempted on a loaded machine.
// Without all this, a session process caught mid-exec escaped the sweep
// (TestSweepSeesProcessMidExec, a process that execs again and again).
func (r *envReader) environ(p procInfo) []byte {
	dir := procRoot + "/" + strconv.Itoa(p.pid)
	before := p.env
	// empty is the last look at an empty block: its bounds and how many
	// times the process had been given a CPU.
	var empty struct {
		env  envBounds
		runs uint64
		seen bool
	}
	for range execTries {
		n, readErr := r.readOnce(dir + "/environ")
		if errors.Is(readErr, fs.ErrPermission) {
			return nil // another user's process: not ours to sweep
		}
		b, err := os.ReadFile(dir + "/stat")
		if err != nil {
			return nil
		}
		now, ok := parseStat(b)
		if !ok || now.dead() || now.exiting {
			return nil
		}
		switch {
		case readErr != nil || now.env.end == 0:
			time.Sleep(time.Millisecond) // inside execve
		case now.env != before || !wholeBlock(now.env, n, len(r.buf)):
			// the image changed under the read: read again
		case n > 0:
			return r.buf[:n]
		default:
			// Empty: believed once the same bounds have held across a
			// pause in which the process sat asleep or stopped, or was
			// given a CPU again (time enough to finish placing a block).
			runs := runCount(dir)
			if empty.seen && empty.env == now.env && (settledState(now.state) || runs > empty.runs) {
				return r.buf[:0]
			}
			empty.env, empty.runs, empty.seen = now.env, runs, true
			time.Sleep(time.Millisecond)
		}
		before = now.env
	}
	return nil
}

// settledState reports a state execve cannot be in: asleep (S, I) or
// stopped (T, t). Running, runnable and uninterruptible (R, D) can.
func settledState(state byte) bool {
	switch state {
	case 'S', 'I', 'T', 't':
		return true
	}
	return false
}

// runCount is how many times the process in dir has been given a CPU
// (the third field of /proc/PID/schedstat); 0 when unknown, which makes
// an empty block of a running process wait out its tries.
func runCount(dir string) uint64 {
	b, err := os.ReadFile(dir + "/schedstat")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return 0
	}
	n, _ := strconv.ParseUint(string(f[2]), 10, 64)
	return n
}

// readOnce reads name into r.buf with a single read call, growing the
// buffer and reading again while the block fills it.
func (r *envReader) readOnce(name string) (int, error) {
	if r.buf == nil {
		r.buf = make([]byte, envBufStart)
	}
	for {
		f, err := os.Open(name)
		if err != nil {
			return 0, err
		}
		n, err := f.Read(r.buf)
		f.Close()
		if errors.Is(err, io.EOF) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		if n < len(r.buf) || len(r.buf) >= envBufMax {
			return n, nil
		}
		r.buf = make([]byte, 2*len(r.buf))
	}
}

// sessionMembers returns the live processes of a session: those carrying
// the marker entry, those in process group or session pgid (when pinned,
// i.e. the leader's pid cannot have been reused), and all their
// descendants. The calling process and pid 1 are never members.
func sessionMembers(marker string, pgid int, pinned bool) []int {
	procs := listProcs()
	self := os.Getpid()
	children := make(map[int][]int, len(procs))
	var env envReader
	var queue []int
	for _, p := range procs {
		if p.dead() || p.pid == self || p.pid <= 1 {
			continue
		}
		children[p.ppid] = append(children[p.ppid], p.pid)
		if (pinned && (p.pgrp == pgid || p.sid == pgid || p.pid == pgid)) || env.hasEnv(p, marker) {
			queue = append(queue, p.pid)
		}
	}
	seen := make(map[int]bool, len(queue))
	var out []int
	for len(queue) > 0 {
		pid := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		out = append(out, pid)
		queue = append(queue, children[pid]...)
	}
	return out
}

// wholeBlock reports whether n bytes read into a buffer of size bufLen
// are all of the block within bounds.
func wholeBlock(b envBounds, n, bufLen int) bool {
	return b.end >= b.start && uint64(n) == min(b.end-b.start, uint64(bufLen))
}
