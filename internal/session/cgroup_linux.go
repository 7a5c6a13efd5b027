package session

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// freezeWait bounds how long the freeze fallback waits for "frozen 1"
// before killing anyway (SIGKILL works on frozen tasks too).
const freezeWait = 100 * time.Millisecond

// rmdirWait bounds the retries of removing a cgroup whose last tasks are
// still being torn down by the kernel (EBUSY).
const rmdirWait = 200 * time.Millisecond

// maxLeftoverDepth bounds how deep SweepCgroups walks the cgroups a
// leftover session created below its own (a root session may): far
// deeper than any real use, and a walk of a tree made to be endless ends.
const maxLeftoverDepth = 32

// cgroup is a session's own cgroup v2 directory.
type cgroup struct {
	dir     string
	fd      int  // open directory, for clone3(CLONE_INTO_CGROUP); -1 for a leftover
	useKill bool // cgroup.kill exists (Linux 5.14+) and is wanted
	subtree bool // procs lists the cgroups below dir too (a leftover)
}

// selfOwner is this process as the owner of the session cgroups it
// creates, read once; ok is false when /proc/self/stat cannot be read,
// and the cgroups then get owner-less names.
var selfOwner = sync.OnceValues(func() (cgroupOwner, bool) {
	b, err := os.ReadFile(procRoot + "/self/stat")
	if err != nil {
		return cgroupOwner{}, false
	}
	pi, ok := parseStat(b)
	start, _, ok2 := parseStatStart(b)
	if !ok || !ok2 || pi.pid != os.Getpid() {
		return cgroupOwner{}, false
	}
	return cgroupOwner{pid: pi.pid, start: start}, true
})

// cgroupName is the directory name of session id's cgroup: with this
// process as its owner, or cgroupPrefix + id when that is unknown.
func cgroupName(id string) string {
	if o, ok := selfOwner(); ok {
		return formatCgroupName(o, id)
	}
	return cgroupPrefix + id
}

// ownerAlive reports whether the owner of a session cgroup still runs:
// its pid exists with the same start time and is not a zombie (a rexec
// daemon's main thread never exits before the process: the Go runtime
// keeps it). When that cannot be told (/proc unreadable, a line it cannot
// parse) the owner counts as alive, so a live daemon's sessions are never
// touched by mistake. Owners are looked up in this process's pid
// namespace: daemons that share a parent cgroup must share it too.
func ownerAlive(o cgroupOwner) bool {
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(o.pid) + "/stat")
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return false
	}
	if err != nil {
		return true
	}
	start, state, ok := parseStatStart(b)
	if !ok {
		return true
	}
	return start == o.start && !(procInfo{state: state}).dead()
}

// newCgroup creates the session's cgroup under the daemon's cgroup v2 or
// fails (no cgroup2 mount, no permission), and the caller falls back.
func newCgroup(id string, noKill bool, user string) (*cgroup, error) {
	base, err := cgroupBase(false)
	if err != nil {
		return nil, err
	}
	dir, err := mkSessionCgroup(base, user, id)
	if errors.Is(err, fs.ErrNotExist) { // the daemon's cgroup is gone: look again
		if base, err = cgroupBase(true); err != nil {
			return nil, err
		}
		dir, err = mkSessionCgroup(base, user, id)
	}
	if err != nil {
		return nil, fmt.Errorf("session: creating cgroup: %w", err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		_ = os.Remove(dir)
		return nil, fmt.Errorf("session: opening cgroup: %w", err)
	}
	_, statErr := os.Stat(filepath.Join(dir, "cgroup.kill"))
	return &cgroup{dir: dir, fd: fd, useKill: statErr == nil && !noKill}, nil
}

// userCgroupPrefix names the cgroup under the daemon's that holds one
// account's sessions (a root daemon serving several accounts): the
// account's name follows.
const userCgroupPrefix = "rexec-user-"

// mkSessionCgroup creates session id's cgroup under base, below the
// account's own cgroup when user is not empty (created on first use).
func mkSessionCgroup(base, user, id string) (string, error) {
	if user != "" {
		base = filepath.Join(base, userCgroupPrefix+user)
		if err := os.Mkdir(base, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	dir := filepath.Join(base, cgroupName(id))
	return dir, os.Mkdir(dir, 0o755)
}

// SweepCgroups clears, at a daemon's start, the session cgroups under
// its own cgroup that an earlier daemon left behind: one killed before it
// could end its sessions (SIGKILL, the OOM killer) leaves them running,
// in their cgroups, with nobody to report to.
//
// Several daemons may share the parent cgroup (tests, several
// instances), so a cgroup goes only when it is certainly a leftover:
//
//   - A name rexec-PID-START-ID names the daemon that owns the session
//     (the process that started it: its pid and its start time in clock
//     ticks, field 22 of /proc/PID/stat). While that process exists, the
//     cgroup is never touched. Once it does not, the cgroup is killed if
//     populated (cgroup.kill, else freeze and SIGKILL), waited for until
//     empty (leftoverWait at most, for all of them together), and
//     removed; each one killed is reported in Killed, with its process
//     count, for the log.
//   - A name rexec-ID carries no owner (daemons before the owner was
//     encoded): it is removed only when empty and older than age, since
//     a live daemon's session cgroup is empty only between its creation
//     and the clone into it, or between its last process's exit and its
//     removal. A populated one is left alone.
//
// It does nothing without cgroup v2; sessions then have no cgroup, and
// their leftovers are not found (docs/SECURITY.md, "Process hygiene").
func SweepCgroups(age time.Duration) (SweepResult, error) {
	base, err := cgroupBase(false)
	if err != nil {
		return SweepResult{}, nil // no cgroup v2 here: nothing was ever left
	}
	return sweepCgroups(base, age, time.Now())
}

func sweepCgroups(base string, age time.Duration, now time.Time) (SweepResult, error) {
	var res SweepResult
	var killed []*cgroup // parallel to res.Killed
	ents, err := os.ReadDir(base)
	if err != nil {
		return res, fmt.Errorf("session: listing cgroups: %w", err)
	}
	sweepDir(base, "", ents, age, now, &res, &killed)
	for _, e := range ents { // each account's sessions, one level down
		if e.IsDir() && strings.HasPrefix(e.Name(), userCgroupPrefix) {
			dir := filepath.Join(base, e.Name())
			if sub, err := os.ReadDir(dir); err == nil {
				sweepDir(dir, e.Name()+"/", sub, age, now, &res, &killed)
			}
		}
	}
	deadline := time.Now().Add(leftoverWait)
	for i, cg := range killed {
		for cg.populated() && time.Now().Before(deadline) {
			time.Sleep(pollInterval)
		}
		if cg.populated() {
			res.Killed[i].Err = fmt.Errorf("session: cgroup %s still populated %v after SIGKILL", res.Killed[i].Name, leftoverWait)
			continue
		}
		res.Killed[i].Err = removeTree(cg.dir, maxLeftoverDepth)
	}
	return res, nil
}

// sweepDir applies SweepCgroups' rules to the session cgroups among ents,
// the entries of dir (named in reports with prefix), and kills the
// leftovers it finds, appending them to killed.
func sweepDir(dir, prefix string, ents []os.DirEntry, age time.Duration, now time.Time, res *SweepResult, killed *[]*cgroup) {
	base := dir
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), cgroupPrefix) || strings.HasPrefix(e.Name(), userCgroupPrefix) {
			continue
		}
		dir := filepath.Join(base, e.Name())
		owner, _, owned := parseCgroupName(e.Name())
		if !owned {
			fi, err := e.Info()
			if err == nil && now.Sub(fi.ModTime()) >= age && unix.Rmdir(dir) == nil {
				res.Removed++
			}
			continue
		}
		if ownerAlive(owner) {
			continue
		}
		_, statErr := os.Stat(filepath.Join(dir, "cgroup.kill"))
		cg := &cgroup{dir: dir, fd: -1, useKill: statErr == nil, subtree: true}
		if !cg.populated() {
			if removeTree(dir, maxLeftoverDepth) == nil {
				res.Removed++
			}
			continue
		}
		n := len(cg.procs())
		cg.kill()
		*killed = append(*killed, cg)
		res.Killed = append(res.Killed, KilledCgroup{Name: prefix + e.Name(), Procs: n})
	}
}

// removeTree removes the empty cgroup dir and the cgroups below it, at
// most depth levels, deepest first.
func removeTree(dir string, depth int) error {
	if depth > 0 {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.IsDir() {
				_ = removeTree(filepath.Join(dir, e.Name()), depth-1)
			}
		}
	}
	return rmdirRetry(dir)
}

// ownCgroup caches ownCgroupDir: reading /proc/self/cgroup and
// mountinfo for every session was a measurable part of its start
// (docs/BENCHMARKS.md).
var ownCgroup struct {
	sync.Mutex
	dir string
}

// cgroupBase returns the daemon's own cgroup v2 directory, looked up on
// first use, and again when refresh is set (the cached one vanished).
func cgroupBase(refresh bool) (string, error) {
	ownCgroup.Lock()
	defer ownCgroup.Unlock()
	if ownCgroup.dir == "" || refresh {
		dir, err := ownCgroupDir()
		if err != nil {
			return "", err
		}
		ownCgroup.dir = dir
	}
	return ownCgroup.dir, nil
}

// ownCgroupDir returns the directory of the daemon's own cgroup v2.
func ownCgroupDir() (string, error) {
	rel, err := readOwnCgroup("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	mnt, root, err := findCgroup2Mount("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	if root != "/" {
		if !strings.HasPrefix(rel+"/", root+"/") {
			return "", errors.New("session: own cgroup outside the cgroup2 mount")
		}
		rel = strings.TrimPrefix(rel, root)
	}
	return filepath.Join(mnt, rel), nil
}

// readOwnCgroup returns the "0::/path" entry of /proc/self/cgroup.
func readOwnCgroup(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("session: reading own cgroup: %w", err)
	}
	return parseOwnCgroup(b)
}

func parseOwnCgroup(b []byte) (string, error) {
	for _, line := range strings.Split(string(b), "\n") {
		if rel, ok := strings.CutPrefix(line, "0::"); ok {
			if !strings.HasPrefix(rel, "/") || strings.HasSuffix(rel, " (deleted)") {
				break
			}
			return rel, nil
		}
	}
	return "", errors.New("session: no cgroup v2 entry for this process")
}

// findCgroup2Mount returns the mount point and mounted root of the first
// cgroup2 file system in a mountinfo file.
func findCgroup2Mount(path string) (mnt, root string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", fmt.Errorf("session: reading mountinfo: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if mnt, root, ok := parseMountinfoLine(sc.Text()); ok {
			return mnt, root, nil
		}
	}
	return "", "", errors.New("session: no cgroup2 mount")
}

// parseMountinfoLine reports whether a mountinfo(5) line is a cgroup2 mount
// and returns its unescaped mount point and root.
func parseMountinfoLine(line string) (mnt, root string, ok bool) {
	pre, post, found := strings.Cut(line, " - ")
	fields := strings.Fields(pre)
	if !found || len(fields) < 5 || !strings.HasPrefix(post, "cgroup2 ") {
		return "", "", false
	}
	return unescapeMount(fields[4]), unescapeMount(fields[3]), true
}

// unescapeMount undoes mountinfo's octal escapes (\040 for space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// procs lists the pids in the cgroup (with subtree, in the cgroups below
// it too, maxLeftoverDepth levels at most).
func (c *cgroup) procs() []int {
	depth := 0
	if c.subtree {
		depth = maxLeftoverDepth
	}
	return appendProcs(nil, c.dir, depth)
}

// appendProcs appends the pids in cgroup dir, and in the cgroups below it
// down to depth more levels, to pids.
func appendProcs(pids []int, dir string, depth int) []int {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	for _, f := range bytes.Fields(b) {
		if pid, err := strconv.Atoi(string(f)); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	if depth > 0 {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.IsDir() {
				pids = appendProcs(pids, filepath.Join(dir, e.Name()), depth-1)
			}
		}
	}
	return pids
}

// populated reports whether any live process is in the cgroup (zombies do
// not count).
func (c *cgroup) populated() bool {
	return c.eventSet("populated")
}

// eventSet reports whether "key 1" is in cgroup.events.
func (c *cgroup) eventSet(key string) bool {
	b, err := os.ReadFile(filepath.Join(c.dir, "cgroup.events"))
	if err != nil {
		return len(c.procs()) > 0
	}
	return bytes.Contains(append([]byte("\n"), b...), []byte("\n"+key+" 1"))
}

// signalAll sends sig to every process in the cgroup.
func (c *cgroup) signalAll(sig syscall.Signal) {
	for _, pid := range c.procs() {
		if pid != os.Getpid() {
			_ = syscall.Kill(pid, sig)
		}
	}
}

// kill SIGKILLs everything in the cgroup: atomically with cgroup.kill,
// else frozen so nothing can fork between listing and killing.
func (c *cgroup) kill() {
	if c.useKill && c.write("cgroup.kill", "1") == nil {
		return
	}
	frozen := c.write("cgroup.freeze", "1") == nil
	for deadline := time.Now().Add(freezeWait); frozen && !c.eventSet("frozen") && time.Now().Before(deadline); {
		time.Sleep(pollInterval)
	}
	c.signalAll(syscall.SIGKILL)
	if frozen {
		_ = c.write("cgroup.freeze", "0")
	}
}

func (c *cgroup) write(file, value string) error {
	return os.WriteFile(filepath.Join(c.dir, file), []byte(value), 0)
}

// remove closes the directory fd and removes the (empty) cgroup.
func (c *cgroup) remove() error {
	_ = unix.Close(c.fd)
	return rmdirRetry(c.dir)
}

// rmdirRetry removes the empty cgroup dir, retrying for rmdirWait while
// the kernel still tears down its last tasks (EBUSY).
func rmdirRetry(dir string) error {
	deadline := time.Now().Add(rmdirWait)
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("session: removing cgroup: %w", err)
		}
		time.Sleep(pollInterval)
	}
}
