package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// reapInterval is how often the reaper scans even without SIGCHLD (a
// signal can be coalesced with one the reaper is already handling).
const reapInterval = time.Second

// reapSpacing is the least time between two scans. Every session's end
// sends a SIGCHLD, and a scan reads the children lists of every thread
// under forkMu, which new sessions wait for: at a few hundred sessions a
// second, scanning on each signal cost more daemon CPU than the TLS
// handshake. An adopted orphan's zombie is harmless for this long; it
// holds a pid, not memory.
const reapSpacing = 50 * time.Millisecond

var (
	// forkMu is held for reading by Start across fork and registration and
	// for writing by the reaper across a scan, so the reaper never sees a
	// main process that is not registered yet.
	forkMu sync.RWMutex

	mainsMu sync.Mutex           // guards mains
	mains   = map[int]struct{}{} // pids of main processes not yet reaped by Close
)

func registerMain(pid int) {
	mainsMu.Lock()
	mains[pid] = struct{}{}
	mainsMu.Unlock()
}

func unregisterMain(pid int) {
	mainsMu.Lock()
	delete(mains, pid)
	mainsMu.Unlock()
}

func isMain(pid int) bool {
	mainsMu.Lock()
	defer mainsMu.Unlock()
	_, ok := mains[pid]
	return ok
}

// reaperActive makes EnableSubreaper exclusive.
var reaperActive sync.Mutex

// EnableSubreaper makes the calling process a child subreaper
// (PR_SET_CHILD_SUBREAPER), so descendants orphaned by a double fork or
// setsid reparent to it instead of init, and starts a goroutine that reaps
// those adopted orphans until ctx is done or stop is called. stop clears
// the subreaper flag and returns once the goroutine has exited; it is
// idempotent.
//
// The reaper reaps every zombie child of this process except the main
// processes started by Start (those are reaped by Process.Close). So once
// it is enabled, the daemon must not start children by other means and
// wait for them itself: their exit status could be taken. Only one reaper
// may be enabled at a time.
func EnableSubreaper(ctx context.Context) (stop func(), err error) {
	if !reaperActive.TryLock() {
		return nil, errors.New("session: subreaper already enabled")
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		reaperActive.Unlock()
		return nil, fmt.Errorf("session: enabling child subreaper: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		reapLoop(ctx)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
			reaperActive.Unlock()
		})
	}, nil
}

// reapScans counts the reaper's scans, for the test that holds them to
// reapSpacing.
var reapScans atomic.Int64

// reapLoop reaps adopted zombies on every SIGCHLD and every reapInterval.
func reapLoop(ctx context.Context) {
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGCHLD)
	defer signal.Stop(sigc)
	tick := time.NewTicker(reapInterval)
	defer tick.Stop()
	spacing := time.NewTimer(reapSpacing)
	defer spacing.Stop()
	for {
		reapOrphans()
		reapScans.Add(1)
		spacing.Reset(reapSpacing)
		select {
		case <-ctx.Done():
			return
		case <-sigc:
		case <-tick.C:
		}
		// Signals that arrive while this waits are coalesced into the
		// one buffered in sigc, which the next round consumes.
		select {
		case <-ctx.Done():
			return
		case <-spacing.C:
		}
	}
}

// ownChildren returns the stat of every child of this process, from the
// children lists of its threads (Linux 3.5+, CONFIG_PROC_CHILDREN); where
// those are missing it falls back to scanning every process.
func ownChildren() []procInfo {
	tasks, err := os.ReadDir(procRoot + "/self/task")
	if err != nil {
		return childrenByScan()
	}
	var out []procInfo
	for _, t := range tasks {
		b, err := os.ReadFile(procRoot + "/self/task/" + t.Name() + "/children")
		if err != nil {
			return childrenByScan()
		}
		for _, f := range strings.Fields(string(b)) {
			st, err := os.ReadFile(procRoot + "/" + f + "/stat")
			if err != nil {
				continue
			}
			if pi, ok := parseStat(st); ok {
				out = append(out, pi)
			}
		}
	}
	return out
}

// childrenByScan is ownChildren by reading the whole process table.
func childrenByScan() []procInfo {
	self := os.Getpid()
	var out []procInfo
	for _, p := range listProcs() {
		if p.ppid == self {
			out = append(out, p)
		}
	}
	return out
}

// reapOrphans wait4s every zombie child that is not a registered main
// process. It returns how many it reaped. It reads only this process's own
// children (/proc/self/task/*/children), not the whole process table: it
// runs on every SIGCHLD, under forkMu, which holds up new sessions.
func reapOrphans() int {
	forkMu.Lock()
	defer forkMu.Unlock()
	n := 0
	for _, p := range ownChildren() {
		if p.state != 'Z' || isMain(p.pid) {
			continue
		}
		var ws unix.WaitStatus
		if pid, err := unix.Wait4(p.pid, &ws, unix.WNOHANG, nil); err == nil && pid == p.pid {
			n++
		}
	}
	return n
}
