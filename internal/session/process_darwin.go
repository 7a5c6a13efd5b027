package session

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// MechanismPgroup is the only kill mechanism on macOS: the process group
// (no cgroups, no subreaper, no /proc to sweep).
const MechanismPgroup = "pgroup"

// tree is empty on macOS: only the process group is known.
type tree struct{}

// exitWatch is empty on macOS: waitMain blocks in wait4.
type exitWatch struct{}

// Mechanism reports how KillTree finds the tree: MechanismPgroup.
func (p *Process) Mechanism() string { return MechanismPgroup }

// EnableSubreaper is not available on macOS; it returns a no-op stop and
// ErrUnsupported.
func EnableSubreaper(ctx context.Context) (stop func(), err error) {
	return func() {}, ErrUnsupported
}

func growPipe(*os.File) {}

func (s *sysProcess) fork(p *Process, cmd *exec.Cmd, spec Spec) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	return nil
}

// waitMain reaps the main process (macOS has no waitid(WNOWAIT) in x/sys)
// and marks it reaped so the group is no longer signalled.
func (s *sysProcess) waitMain(p *Process) {
	err := s.cmd.Wait()
	s.mu.Lock()
	s.reaped = true
	s.mu.Unlock()
	p.status = statusFromWait(s.cmd.ProcessState, err)
	close(p.done)
}

func statusFromWait(ps *os.ProcessState, err error) Status {
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return Status{Code: -1, Err: err}
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return Status{Code: -1, Signal: ws.Signal()}
	}
	return Status{Code: ps.ExitCode()}
}

func (s *sysProcess) release(p *Process) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	closeFiles(s.parent)
	return nil
}

func (s *sysProcess) signalTree(sig syscall.Signal) { s.signalPgroup(sig) }

func (s *sysProcess) forceKill() { s.signalPgroup(syscall.SIGKILL) }

// treeEmpty: after the leader is reaped the group id may be reused, so the
// group is no longer probed.
func (s *sysProcess) treeEmpty() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.reaped || errors.Is(syscall.Kill(-s.pgid, 0), syscall.ESRCH)
}
