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

// cgroupPrefix names a session's cgroup: cgroupPrefix + session id, created
// under the daemon's own cgroup v2.
const cgroupPrefix = "rexec-"

// freezeWait bounds how long the freeze fallback waits for "frozen 1"
// before killing anyway (SIGKILL works on frozen tasks too).
const freezeWait = 100 * time.Millisecond

// rmdirWait bounds the retries of removing a cgroup whose last tasks are
// still being torn down by the kernel (EBUSY).
const rmdirWait = 200 * time.Millisecond

// cgroup is a session's own cgroup v2 directory.
type cgroup struct {
	dir     string
	fd      int  // open directory, for clone3(CLONE_INTO_CGROUP)
	useKill bool // cgroup.kill exists (Linux 5.14+) and is wanted
}

// newCgroup creates the session's cgroup under the daemon's cgroup v2 or
// fails (no cgroup2 mount, no permission), and the caller falls back.
func newCgroup(id string, noKill bool) (*cgroup, error) {
	base, err := cgroupBase(false)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(base, cgroupPrefix+id)
	err = os.Mkdir(dir, 0o755)
	if errors.Is(err, fs.ErrNotExist) { // the daemon's cgroup is gone: look again
		if base, err = cgroupBase(true); err != nil {
			return nil, err
		}
		dir = filepath.Join(base, cgroupPrefix+id)
		err = os.Mkdir(dir, 0o755)
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

// SweepCgroups removes the empty session cgroups older than age under the
// daemon's own cgroup, and returns how many it removed. A daemon killed
// before it could remove its sessions' cgroups (SIGKILL, the OOM killer)
// leaves them behind, and a daemon restarted in the same cgroup finds them
// at start-up. It does nothing without cgroup v2.
//
// Other daemons may share the parent cgroup (tests, several instances), so
// only what is certainly a leftover goes: rmdir refuses a cgroup that holds
// a process or a child cgroup, and a live daemon's session cgroup is empty
// only for the moment between its creation and the clone into it, or
// between its last process's exit and its removal; an empty one older
// than StaleCgroupAge has been forgotten.
func SweepCgroups(age time.Duration) (int, error) {
	base, err := cgroupBase(false)
	if err != nil {
		return 0, nil // no cgroup v2 here: nothing was ever left
	}
	return sweepCgroups(base, age, time.Now())
}

// StaleCgroupAge is the age from which SweepCgroups removes an empty
// session cgroup.
const StaleCgroupAge = time.Minute

func sweepCgroups(base string, age time.Duration, now time.Time) (int, error) {
	ents, err := os.ReadDir(base)
	if err != nil {
		return 0, fmt.Errorf("session: listing cgroups: %w", err)
	}
	n := 0
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), cgroupPrefix) {
			continue
		}
		fi, err := e.Info()
		if err != nil || now.Sub(fi.ModTime()) < age {
			continue
		}
		if unix.Rmdir(filepath.Join(base, e.Name())) == nil {
			n++
		}
	}
	return n, nil
}

// ownCgroup caches ownCgroupDir: reading /proc/self/cgroup and
// mountinfo for every session cost about 25 µs of its start.
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

// procs lists the pids in the cgroup.
func (c *cgroup) procs() []int {
	b, err := os.ReadFile(filepath.Join(c.dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range bytes.Fields(b) {
		if pid, err := strconv.Atoi(string(f)); err == nil && pid > 0 {
			pids = append(pids, pid)
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
	deadline := time.Now().Add(rmdirWait)
	for {
		err := unix.Rmdir(c.dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("session: removing cgroup: %w", err)
		}
		time.Sleep(pollInterval)
	}
}
