package session

import (
	"bytes"
	"os"
	"strconv"
)

// procRoot is where the sweep looks for processes.
const procRoot = "/proc"

// procInfo is the part of /proc/PID/stat the sweep and the reaper need.
type procInfo struct {
	pid, ppid, pgrp, sid int
	state                byte
}

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
	return procInfo{pid: n[0], ppid: n[1], pgrp: n[2], sid: n[3], state: rest[0][0]}, true
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

// hasEnv reports whether process pid's initial environment holds the exact
// entry kv. Unreadable environments (other users, kernel threads) do not.
func hasEnv(pid int, kv string) bool {
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	entry := []byte(kv + "\x00")
	return bytes.HasPrefix(b, entry) || bytes.Contains(b, append([]byte{0}, entry...))
}

// sessionMembers returns the live processes of a session: those carrying
// the marker entry, those in process group or session pgid (when pinned,
// i.e. the leader's pid cannot have been reused), and all their
// descendants. The calling process and pid 1 are never members.
func sessionMembers(marker string, pgid int, pinned bool) []int {
	procs := listProcs()
	self := os.Getpid()
	children := make(map[int][]int, len(procs))
	var queue []int
	for _, p := range procs {
		if p.dead() || p.pid == self || p.pid <= 1 {
			continue
		}
		children[p.ppid] = append(children[p.ppid], p.pid)
		if (pinned && (p.pgrp == pgid || p.sid == pgid || p.pid == pgid)) || hasEnv(p.pid, marker) {
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
