//go:build linux || darwin

package session

import (
	"syscall"
	"time"
)

// killRetry is how long KillTree waits after a round of SIGKILL before
// looking again for processes forked in the meantime.
const killRetry = 20 * time.Millisecond

// killTree is KillTree's body: SIGTERM (and SIGHUP for a terminal, as a
// hang-up would, since interactive shells ignore SIGTERM), then SIGCONT so
// stopped processes can act on it; after grace, rounds of SIGKILL until
// nothing is left or grace+killSlack passed. It reports whether the tree
// is gone.
func (s *sysProcess) killTree(p *Process, grace time.Duration) bool {
	start := time.Now()
	if s.gone(p) {
		return true
	}
	if s.pty != nil {
		s.signalTree(syscall.SIGHUP)
	}
	s.signalTree(syscall.SIGTERM)
	s.signalTree(syscall.SIGCONT)
	if s.waitGone(p, start.Add(grace)) {
		return true
	}
	deadline := start.Add(grace + killSlack)
	for time.Now().Before(deadline) {
		s.forceKill()
		next := time.Now().Add(killRetry)
		if next.After(deadline) {
			next = deadline
		}
		if s.waitGone(p, next) {
			return true
		}
	}
	return false
}

// gone reports whether the main process exited and the tree is empty.
func (s *sysProcess) gone(p *Process) bool {
	select {
	case <-p.done:
		return s.treeEmpty()
	default:
		return false
	}
}

// waitGone polls gone until it holds or the deadline passes.
func (s *sysProcess) waitGone(p *Process, deadline time.Time) bool {
	for {
		if s.gone(p) {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(min(pollInterval, time.Until(deadline)))
	}
}
