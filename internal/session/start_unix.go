//go:build linux || darwin

package session

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrClosed is returned by Signal and Resize after Close.
var ErrClosed = errors.New("session: closed")

// sysProcess is the Unix part of a Process.
type sysProcess struct {
	cmd    *exec.Cmd
	pgid   int      // the main pid: leader of the process group (and session with a PTY)
	pty    *os.File // terminal master, nil without a PTY
	parent []*os.File
	tree   tree      // what kills the tree: cgroup and /proc sweep on Linux
	exit   exitWatch // how waitMain learns of the exit: a pidfd on Linux

	// mu guards reaped, closed and the use of pgid and pty against them:
	// while the main process is not reaped its pid (= pgid) cannot be
	// reused, so kill(-pgid) cannot hit a stranger.
	mu     sync.RWMutex
	reaped bool // main process reaped (Linux: at Close; darwin: at exit)
	closed bool // release ran
}

// Start starts spec as a new process group (a new session with a PTY) and
// returns once it runs. Errors come back for an invalid Spec, a program
// not found, a bad Dir or a failed fork, wrapped with the argv[0] tried.
// The caller must Close the Process.
func Start(spec Spec) (*Process, error) {
	if err := validEnv(spec.Env); err != nil {
		return nil, err
	}
	p := &Process{id: firstNonEmpty(spec.ID, newID()), done: make(chan struct{})}
	acct, base := currentAccount(), []string(nil)
	if u := spec.User; u != nil {
		acct = account{name: u.Name, home: u.Home, shell: firstNonEmpty(u.Shell, fallbackShell)}
		base = userEnv(u, spec.PTY)
	} else {
		base = baseEnv(acct, spec.PTY)
	}
	env := mergeEnv(base, spec.Env...)
	env = mergeEnv(env, MarkerVar+"="+p.id)
	dir := workDir(spec.Dir, acct.home)
	path, argv, env, err := commandLine(spec, acct, env, dir)
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{Path: path, Args: argv, Env: env, Dir: dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: spec.PTY == nil}
	if u := spec.User; u != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: u.Groups}
	}
	if err := p.sys.start(p, cmd, spec); err != nil {
		return nil, fmt.Errorf("session: starting %q: %w", argv[0], err)
	}
	go p.sys.waitMain(p)
	return p, nil
}

// workDir is dir, else home, else "/" when home is missing, as sshd does.
// A relative dir is taken from home, like a shell's cd after login, never
// from the daemon's own working directory.
func workDir(dir, home string) string {
	if filepath.IsAbs(dir) {
		return dir
	}
	if dir != "" {
		return filepath.Join(home, dir)
	}
	if fi, err := os.Stat(home); err == nil && fi.IsDir() {
		return home
	}
	return "/"
}

// start wires stdio, forks and closes the child's ends in the parent.
func (s *sysProcess) start(p *Process, cmd *exec.Cmd, spec Spec) error {
	child, err := s.attachIO(p, cmd, spec.PTY, spec.User)
	if err != nil {
		return err
	}
	err = s.fork(p, cmd, spec) // sets s.cmd to the Cmd that ran

	closeFiles(child)
	if err != nil {
		closeFiles(s.parent)
		return err
	}
	s.pgid = s.cmd.Process.Pid
	p.pid = s.pgid
	return nil
}

// attachIO creates the pipes or terminal, sets cmd's stdio to the child
// ends and p's to the parent ends, and returns the child ends.
func (s *sysProcess) attachIO(p *Process, cmd *exec.Cmd, ps *PTYSpec, u *User) ([]*os.File, error) {
	if ps != nil {
		return s.attachPTY(p, cmd, ps, u)
	}
	var files [6]*os.File // in r, in w, out r, out w, err r, err w
	for i := 0; i < len(files); i += 2 {
		r, w, err := os.Pipe()
		if err != nil {
			closeFiles(files[:i])
			return nil, fmt.Errorf("creating pipe: %w", err)
		}
		files[i], files[i+1] = r, w
	}
	growPipe(files[1])
	growPipe(files[3])
	growPipe(files[5])
	cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[3], files[5]
	p.stdin, p.stdout, p.stderr = files[1], files[2], files[4]
	s.parent = []*os.File{files[1], files[2], files[4]}
	return []*os.File{files[0], files[3], files[5]}, nil
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		if f != nil {
			_ = f.Close()
		}
	}
}

// Signal sends sig to the process group; with a PTY, to the terminal's
// foreground process group, as typing ^C would. Signalling is allowed
// until Close, also after the main process exited (its group may live on).
// It fails with ErrClosed after Close and ErrExited when no process is left.
func (p *Process) Signal(sig syscall.Signal) error {
	s := &p.sys
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if s.reaped {
		return ErrExited
	}
	target := s.pgid
	if fg, ok := s.foreground(); ok {
		target = fg
	}
	err := syscall.Kill(-target, sig)
	if errors.Is(err, syscall.ESRCH) {
		return ErrExited
	}
	if err != nil {
		return fmt.Errorf("session: signal %v: %w", sig, err)
	}
	return nil
}

// SignalTree sends sig to every process of the session it can find, not
// only its process group: a detached job's kill reaches descendants that
// left the group (setsid, double forks). It fails with ErrClosed after
// Close.
func (p *Process) SignalTree(sig syscall.Signal) error {
	s := &p.sys
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.signalTree(sig)
	return nil
}

// Resize sets the terminal size and so sends SIGWINCH to its foreground
// group. It fails with ErrNoPTY without a terminal, ErrClosed after Close.
func (p *Process) Resize(rows, cols uint16) error {
	s := &p.sys
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.pty == nil {
		return ErrNoPTY
	}
	if s.closed {
		return ErrClosed
	}
	if err := setWinsize(s.pty, rows, cols); err != nil {
		return fmt.Errorf("session: resize: %w", err)
	}
	return nil
}

// signalPgroup sends sig to the process group while its leader's pid is
// still pinned (not reaped). Callers hold no lock.
func (s *sysProcess) signalPgroup(sig syscall.Signal) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.reaped {
		_ = syscall.Kill(-s.pgid, sig)
	}
}

// control runs fn on f's descriptor without switching f to blocking mode
// (unlike File.Fd).
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

func setWinsize(f *os.File, rows, cols uint16) error {
	return control(f, func(fd int) error {
		return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	})
}
