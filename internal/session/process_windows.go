package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// MechanismProcess is the only kill mechanism on Windows: the main
// process itself (no job object yet), so its children may survive.
const MechanismProcess = "process"

// ErrClosed is returned by Signal and Resize after Close.
var ErrClosed = errors.New("session: closed")

// sysProcess is the Windows part of a Process.
type sysProcess struct {
	cmd    *exec.Cmd
	parent []*os.File
	mu     sync.Mutex // guards closed
	closed bool
}

// Start runs spec through cmd.exe /c (Command), or Argv as given, with the
// daemon's environment plus Spec.Env and REXEC_SESSION. Login and PTY are
// not supported on Windows.
func Start(spec Spec) (*Process, error) {
	if err := validEnv(spec.Env); err != nil {
		return nil, err
	}
	if spec.PTY != nil || (spec.Login && len(spec.Argv) == 0 && spec.Command == "") {
		return nil, ErrUnsupported
	}
	p := &Process{id: firstNonEmpty(spec.ID, newID()), done: make(chan struct{})}
	cmd, err := windowsCmd(spec)
	if err != nil {
		return nil, err
	}
	cmd.Env = mergeEnv(mergeEnv(os.Environ(), spec.Env...), MarkerVar+"="+p.id)
	if err := p.sys.start(p, cmd); err != nil {
		return nil, fmt.Errorf("session: starting %q: %w", cmd.Path, err)
	}
	go p.sys.waitMain(p)
	return p, nil
}

func windowsCmd(spec Spec) (*exec.Cmd, error) {
	var cmd *exec.Cmd
	switch {
	case len(spec.Argv) > 0:
		cmd = exec.Command(spec.Argv[0], spec.Argv[1:]...)
	case spec.Command != "":
		shell := firstNonEmpty(os.Getenv("COMSPEC"), "cmd.exe")
		cmd = exec.Command(shell)
		// cmd.exe does its own parsing; pass the line verbatim.
		cmd.SysProcAttr = &syscall.SysProcAttr{CmdLine: filepath.Base(shell) + " /c " + spec.Command}
	default:
		return nil, ErrEmptyCommand
	}
	if cmd.Err != nil {
		return nil, fmt.Errorf("session: %w", cmd.Err)
	}
	cmd.Dir = spec.Dir
	if cmd.Dir == "" {
		cmd.Dir, _ = os.UserHomeDir()
	}
	return cmd, nil
}

func (s *sysProcess) start(p *Process, cmd *exec.Cmd) error {
	var files [6]*os.File
	for i := 0; i < len(files); i += 2 {
		r, w, err := os.Pipe()
		if err != nil {
			closeFiles(files[:i])
			return fmt.Errorf("creating pipe: %w", err)
		}
		files[i], files[i+1] = r, w
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[3], files[5]
	p.stdin, p.stdout, p.stderr = files[1], files[2], files[4]
	s.parent = []*os.File{files[1], files[2], files[4]}
	err := cmd.Start()
	closeFiles([]*os.File{files[0], files[3], files[5]})
	if err != nil {
		closeFiles(s.parent)
		return err
	}
	s.cmd = cmd
	p.pid = cmd.Process.Pid
	return nil
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		if f != nil {
			_ = f.Close()
		}
	}
}

func (s *sysProcess) waitMain(p *Process) {
	err := s.cmd.Wait()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		p.status = Status{Code: -1, Err: err}
	} else {
		p.status = Status{Code: s.cmd.ProcessState.ExitCode()}
	}
	close(p.done)
}

// Mechanism reports how KillTree finds the tree: MechanismProcess.
func (p *Process) Mechanism() string { return MechanismProcess }

// Signal terminates the main process for any signal: Windows has no
// signals to deliver to a console process group from here.
func (p *Process) Signal(sig syscall.Signal) error {
	p.sys.mu.Lock()
	defer p.sys.mu.Unlock()
	if p.sys.closed {
		return ErrClosed
	}
	select {
	case <-p.done:
		return ErrExited
	default:
	}
	if err := p.sys.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("session: signal %v: %w", sig, err)
	}
	return nil
}

// Resize always fails with ErrNoPTY: Windows sessions have no terminal.
func (p *Process) Resize(rows, cols uint16) error { return ErrNoPTY }

// EnableSubreaper is not available on Windows; it returns a no-op stop and
// ErrUnsupported.
func EnableSubreaper(ctx context.Context) (stop func(), err error) {
	return func() {}, ErrUnsupported
}

// killTree kills the main process and waits up to grace+killSlack for it.
func (s *sysProcess) killTree(p *Process, grace time.Duration) bool {
	select {
	case <-p.done:
		return true
	default:
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-p.done:
		return true
	case <-time.After(grace + killSlack):
		return false
	}
}

func (s *sysProcess) release(p *Process) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	closeFiles(s.parent)
	return nil
}

// SignalTree is Signal on Windows: any signal terminates the main
// process.
func (p *Process) SignalTree(sig syscall.Signal) error { return p.Signal(sig) }
