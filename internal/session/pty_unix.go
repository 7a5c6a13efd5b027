//go:build linux || darwin

package session

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// eofChar is the terminal's default EOF character (VEOF, ^D); Close on a
// PTY's Stdin types it, as a user at the terminal would.
const eofChar = 0x04

// attachPTY opens a terminal of the requested size and makes its slave the
// child's stdio and controlling terminal.
func (s *sysProcess) attachPTY(p *Process, cmd *exec.Cmd, ps *PTYSpec, u *User) ([]*os.File, error) {
	master, tty, err := openPTY()
	if err != nil {
		return nil, err
	}
	if u != nil {
		if err := giveTTY(tty, u); err != nil {
			closeFiles([]*os.File{master, tty})
			return nil, err
		}
	}
	if ps.Rows != 0 || ps.Cols != 0 {
		if err := setWinsize(master, ps.Rows, ps.Cols); err != nil {
			closeFiles([]*os.File{master, tty})
			return nil, fmt.Errorf("setting terminal size: %w", err)
		}
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr.Setsid, cmd.SysProcAttr.Setctty, cmd.SysProcAttr.Ctty = true, true, 0
	s.pty = master
	p.tty = tty.Name()
	s.parent = []*os.File{master}
	p.stdin, p.stdout, p.stderr = &ptyInput{f: master}, ptyOutput{master}, eofReader{}
	return []*os.File{tty}, nil
}

// ttyMode is the mode of a session's terminal: the account reads and
// writes it, its group (tty) may write to it, as write(1) and wall do;
// sshd sets the same.
const ttyMode = 0o620

// giveTTY makes the terminal the account's, as sshd's pty_setowner does:
// owner the account, group TTYGroup (if any), mode ttyMode.
func giveTTY(tty *os.File, u *User) error {
	gid := int(u.GID)
	if u.TTYGroup >= 0 {
		gid = u.TTYGroup
	}
	if err := tty.Chown(int(u.UID), gid); err != nil {
		return fmt.Errorf("giving the terminal to %s: %w", u.Name, err)
	}
	if err := tty.Chmod(ttyMode); err != nil {
		return fmt.Errorf("giving the terminal to %s: %w", u.Name, err)
	}
	return nil
}

// openPTY opens a terminal pair. pty.Open leaves the master in blocking
// mode (it calls File.Fd), where Close cannot interrupt a Read; the master
// is therefore replaced by a non-blocking duplicate the runtime can poll.
func openPTY() (master, tty *os.File, err error) {
	m, tty, err := pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("opening pty: %w", err)
	}
	defer m.Close()
	fd, err := unix.FcntlInt(m.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err == nil {
		err = unix.SetNonblock(fd, true)
	}
	if err != nil {
		_ = tty.Close()
		return nil, nil, fmt.Errorf("opening pty: %w", err)
	}
	return os.NewFile(uintptr(fd), m.Name()), tty, nil
}

// foreground returns the terminal's foreground process group. Caller holds
// s.mu (read) so the master is open.
func (s *sysProcess) foreground() (int, bool) {
	if s.pty == nil {
		return 0, false
	}
	var pgrp int
	err := control(s.pty, func(fd int) error {
		var err error
		pgrp, err = unix.IoctlGetInt(fd, unix.TIOCGPGRP)
		return err
	})
	return pgrp, err == nil && pgrp > 0
}

// ptyInput writes to the terminal; Close types EOF instead of closing, as
// the master must stay open for the output side.
type ptyInput struct {
	f       *os.File
	mu      sync.Mutex // guards midLine, closed
	midLine bool       // last byte written was not a newline
	closed  bool
}

func (w *ptyInput) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, os.ErrClosed
	}
	n, err := w.f.Write(b)
	if n > 0 {
		w.midLine = b[n-1] != '\n'
	}
	return n, err
}

// Close types ^D: twice when a line is pending, since the first one only
// submits that line in canonical mode. Later calls do nothing.
func (w *ptyInput) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	eof := []byte{eofChar}
	if w.midLine {
		eof = append(eof, eofChar)
	}
	if _, err := w.f.Write(eof); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("session: writing EOF to pty: %w", err)
	}
	return nil
}

// ptyOutput reads the terminal; EIO (every slave fd closed) becomes EOF.
type ptyOutput struct{ f *os.File }

func (r ptyOutput) Read(b []byte) (int, error) {
	n, err := r.f.Read(b)
	if errors.Is(err, syscall.EIO) {
		err = io.EOF
	}
	return n, err
}
