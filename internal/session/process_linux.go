package session

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pipeSize is the capacity asked for the stdout and stderr pipes: the
// server streams at GB/s and 64 KiB pipes cost a context switch per 64 KiB.
// Unprivileged users are capped by /proc/sys/fs/pipe-max-size (1 MiB by
// default); a refusal is ignored.
const pipeSize = 1 << 20

// Mechanisms reported by Process.Mechanism.
const (
	MechanismCgroup = "cgroup" // session cgroup v2 + process group + /proc sweep
	MechanismSweep  = "sweep"  // process group + /proc sweep by marker and ancestry
)

// tree is what finds and kills a session's processes on Linux.
type tree struct {
	cg     *cgroup // nil when no cgroup could be created
	marker string  // "REXEC_SESSION=<id>"
}

// Mechanism reports how KillTree finds the whole tree: MechanismCgroup or
// MechanismSweep (no cgroup could be created, e.g. not root).
func (p *Process) Mechanism() string {
	if p.sys.tree.cg != nil {
		return MechanismCgroup
	}
	return MechanismSweep
}

func growPipe(f *os.File) {
	_ = control(f, func(fd int) error {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, pipeSize)
		return err
	})
}

// fork starts cmd, inside a new cgroup when one can be created (cloned
// straight into it, so no process of the session ever runs outside), and
// registers the main pid with the reaper.
func (s *sysProcess) fork(p *Process, cmd *exec.Cmd, spec Spec) error {
	forkMu.RLock()
	defer forkMu.RUnlock()
	s.tree.marker = MarkerVar + "=" + p.id
	if !spec.noCgroup {
		if cg, err := newCgroup(p.id, spec.noCgroupKill, userName(spec.User)); err == nil {
			withCg := cloneCmd(cmd)
			withCg.SysProcAttr.UseCgroupFD, withCg.SysProcAttr.CgroupFD = true, cg.fd
			if err := withCg.Start(); err == nil {
				s.tree.cg, s.cmd = cg, withCg
				s.registered(spec)
				return nil
			}
			_ = cg.remove() // e.g. clone3 unsupported; a real error repeats below
		}
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	s.registered(spec)
	return nil
}

// registered registers the main process just started with the reaper and
// opens its pidfd, both under forkMu, before anything could reap it.
func (s *sysProcess) registered(spec Spec) {
	registerMain(s.cmd.Process.Pid)
	if !spec.noPidfd {
		s.exit = watchExit(s.cmd.Process.Pid)
	}
}

// cloneCmd copies an unstarted Cmd (a Cmd can be started only once).
func cloneCmd(c *exec.Cmd) *exec.Cmd {
	attr := *c.SysProcAttr
	return &exec.Cmd{Path: c.Path, Args: c.Args, Env: c.Env, Dir: c.Dir,
		Stdin: c.Stdin, Stdout: c.Stdout, Stderr: c.Stderr, SysProcAttr: &attr}
}

// waitMain waits for the main process to exit WITHOUT reaping it: the
// zombie keeps its pid (the process group id) reserved until Close, so
// signals to the group can never reach a process that reused the pid.
// With a pidfd it waits in the runtime's poller (exitWatch); without one
// it blocks an OS thread in waitid until the exit.
func (s *sysProcess) waitMain(p *Process) {
	info, err := s.exit.waitExit()
	if errors.Is(err, errNoPoll) {
		info, err = waitBlocking(s.cmd.Process.Pid)
	}
	p.status = statusFromSiginfo(&info, err)
	close(p.done)
}

// waitBlocking is waitMain without a pidfd: waitid(P_PID, WNOWAIT), which
// holds the calling goroutine's thread until the process exits.
func waitBlocking(pid int) (unix.Siginfo, error) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return info, err
		}
	}
}

// siginfoUnion is the offset of the union in siginfo_t: after three int32
// fields, aligned to a pointer.
const siginfoUnion = (12 + unsafe.Sizeof(uintptr(0)) - 1) &^ (unsafe.Sizeof(uintptr(0)) - 1)

// si_code values for SIGCHLD (linux/include/uapi/asm-generic/siginfo.h);
// golang.org/x/sys/unix does not export them.
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

// statusFromSiginfo decodes waitid's result for a child: si_code says how
// it ended, si_status (after si_pid and si_uid) the code or signal.
func statusFromSiginfo(info *unix.Siginfo, err error) Status {
	if err != nil {
		return Status{Code: -1, Err: err}
	}
	base := unsafe.Pointer(info)
	status := int(*(*int32)(unsafe.Add(base, siginfoUnion+8)))
	switch info.Code {
	case cldExited:
		return Status{Code: status}
	case cldKilled, cldDumped:
		return Status{Code: -1, Signal: syscall.Signal(status)}
	default:
		return Status{Code: -1, Err: errors.New("session: unexpected wait status")}
	}
}

// release reaps the main process (if it exited; else the reaper gets it
// later), closes the parent's fds and removes the cgroup.
func (s *sysProcess) release(p *Process) error {
	s.mu.Lock()
	s.reaped, s.closed = true, true
	select {
	case <-p.done:
		_ = s.cmd.Wait() // status already known; this only reaps
	default: // stuck in the kernel even after SIGKILL
	}
	s.mu.Unlock()
	unregisterMain(s.cmd.Process.Pid)
	closeFiles(s.parent)
	if s.tree.cg != nil {
		return s.tree.cg.remove()
	}
	return nil
}

// signalTree sends sig to every process of the session it can find.
// With a cgroup, the cgroup holds every descendant, so the /proc sweep
// (a scan of every process, which made tearing down many sessions at once
// quadratic) is skipped; forceKill still sweeps as a last resort.
func (s *sysProcess) signalTree(sig syscall.Signal) {
	s.signalPgroup(sig)
	if s.tree.cg != nil {
		s.tree.cg.signalAll(sig)
		return
	}
	for _, pid := range s.members() {
		_ = syscall.Kill(pid, sig)
	}
}

// forceKill SIGKILLs every process of the session it can find.
func (s *sysProcess) forceKill() {
	s.signalPgroup(syscall.SIGKILL)
	if s.tree.cg != nil {
		s.tree.cg.kill()
	}
	for _, pid := range s.members() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// treeEmpty reports whether no live process of the session is left. With a
// cgroup, its populated flag is the answer: every descendant is cloned into
// it and an unprivileged process cannot leave it, so the /proc sweep (which
// reads every process's environment, milliseconds on a busy host) is only
// needed without one. Signalling still sweeps /proc as well (signalTree).
func (s *sysProcess) treeEmpty() bool {
	if s.tree.cg != nil {
		return !s.tree.cg.populated()
	}
	return len(s.members()) == 0
}

// members runs the /proc sweep for this session.
func (s *sysProcess) members() []int {
	s.mu.RLock()
	pinned := !s.reaped
	s.mu.RUnlock()
	return sessionMembers(s.tree.marker, s.pgid, pinned)
}

// userName is the account whose cgroup holds a session, "" for the
// daemon's own.
func userName(u *User) string {
	if u == nil {
		return ""
	}
	return u.Name
}
