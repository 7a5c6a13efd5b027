package session

import (
	"strconv"
	"strings"
	"time"
)

// cgroupPrefix starts the name of every session cgroup, created under the
// daemon's own cgroup v2: cgroupPrefix + "PID-START-" + session id, with
// the owner (the process that started the session) encoded as its pid and
// its start time (cgroupOwner); a daemon that cannot read its own start
// time, and daemons before the owner was encoded, use cgroupPrefix + id.
const cgroupPrefix = "rexec-"

// StaleCgroupAge is the age from which SweepCgroups removes an empty
// session cgroup whose name carries no owner.
const StaleCgroupAge = time.Minute

// leftoverWait bounds how long SweepCgroups waits for the processes of
// the leftover cgroups it killed to be gone, all of them together:
// SIGKILL cannot be caught, so what is left after this is stuck in the
// kernel (D state) and the daemon must not hold up its start for it.
const leftoverWait = 2 * time.Second

// SweepResult is what SweepCgroups did.
type SweepResult struct {
	// Removed counts the empty leftover session cgroups removed.
	Removed int
	// Killed lists, one per cgroup, the populated session cgroups of
	// owners that no longer exist, whose processes were killed.
	Killed []KilledCgroup
}

// KilledCgroup is a leftover session cgroup whose processes SweepCgroups
// killed: the daemon logs each one, since each ended somebody's command.
type KilledCgroup struct {
	Name  string // its directory name, rexec-PID-START-ID
	Procs int    // processes in it (and in any cgroup below it) when found
	Err   error  // not nil: still populated after the wait, or not removed
}

// maxPid is the largest pid Linux can hand out (PID_MAX_LIMIT on 64-bit
// systems); a larger number in a cgroup name names no process.
const maxPid = 1 << 22

// cgroupOwner identifies the process that started a session: its pid and
// its start time in clock ticks after boot (field 22 of /proc/PID/stat).
// A reused pid has a later start time, so the pair never names two
// processes.
type cgroupOwner struct {
	pid   int
	start uint64
}

// formatCgroupName is the directory name of session id's cgroup owned by o.
func formatCgroupName(o cgroupOwner, id string) string {
	return cgroupPrefix + strconv.Itoa(o.pid) + "-" + strconv.FormatUint(o.start, 10) + "-" + id
}

// parseCgroupName is formatCgroupName's inverse. ok is false for any other
// name, an owner-less rexec-ID included; it accepts only the canonical
// form (decimal numbers without a sign or leading zeros, a pid from 1 to
// maxPid, a non-empty id), so a name it accepts formats back to itself.
func parseCgroupName(name string) (o cgroupOwner, id string, ok bool) {
	rest, found := strings.CutPrefix(name, cgroupPrefix)
	if !found {
		return cgroupOwner{}, "", false
	}
	pidStr, rest, found1 := strings.Cut(rest, "-")
	startStr, id, found2 := strings.Cut(rest, "-")
	if !found1 || !found2 || id == "" || !canonicalUint(pidStr) || !canonicalUint(startStr) {
		return cgroupOwner{}, "", false
	}
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid < 1 || pid > maxPid {
		return cgroupOwner{}, "", false
	}
	start, err := strconv.ParseUint(startStr, 10, 64)
	if err != nil {
		return cgroupOwner{}, "", false
	}
	return cgroupOwner{pid: pid, start: start}, id, true
}

// canonicalUint reports whether s is a decimal number as strconv formats
// one: digits only, no leading zero unless it is "0".
func canonicalUint(s string) bool {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return false
	}
	return strings.Trim(s, "0123456789") == ""
}
