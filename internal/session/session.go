package session

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultGrace is how long Close lets the tree handle SIGTERM before SIGKILL.
// Short, because Close runs on every end path (disconnect, shutdown) and a
// client waiting for its exit status should not notice it.
const DefaultGrace = 500 * time.Millisecond

// killSlack bounds how long KillTree keeps sweeping after the grace period:
// SIGKILL cannot be caught, so anything still alive after this is stuck in
// the kernel (D state) and waiting longer would not help.
const killSlack = 2 * time.Second

// pollInterval is how often KillTree checks whether the tree is gone.
const pollInterval = 5 * time.Millisecond

// MarkerVar is the environment variable that carries the session id into
// every process of the session; the /proc sweep finds descendants by it.
const MarkerVar = "REXEC_SESSION"

// Errors returned by this package; compare with errors.Is.
var (
	// ErrEmptyCommand: Spec has no Argv, no Command and Login is false.
	ErrEmptyCommand = errors.New("session: empty command")
	// ErrBadEnv: a Spec.Env entry is not of the form K=V with a non-empty K.
	ErrBadEnv = errors.New("session: bad environment entry")
	// ErrNoPTY: Resize was called on a session without a terminal.
	ErrNoPTY = errors.New("session: no pseudo-terminal")
	// ErrExited: Signal was called after the main process exited.
	ErrExited = errors.New("session: process already exited")
	// ErrUnsupported: the operation does not exist on this platform.
	ErrUnsupported = errors.New("session: not supported on this platform")
)

// PTYSpec asks for a pseudo-terminal of the given size. An empty Term
// means DefaultTerm; zero Rows or Cols leave the kernel default (0).
type PTYSpec struct {
	Term       string
	Rows, Cols uint16
}

// DefaultTerm is TERM for a PTY session whose PTYSpec.Term is empty.
const DefaultTerm = "xterm"

// Spec describes one command. The zero value is invalid (ErrEmptyCommand);
// exactly one of Argv, Command or Login selects what runs, in that order.
type Spec struct {
	// Argv is run exactly as given, no shell; Argv[0] without a slash is
	// looked up in the session's PATH (after Env is applied).
	Argv []string
	// Command is a shell string run as `$SHELL -c Command`, SHELL being the
	// daemon user's login shell from /etc/passwd (fallback /bin/sh); on
	// Windows `cmd.exe /c Command`. Without a PTY, a string that is one
	// plain command (`uname -a`) under bash or dash is exec'd directly,
	// exactly as the shell would exec it (direct_unix.go).
	Command string
	// Login starts the user's login shell interactively with argv[0]
	// prefixed by "-" (like sshd) when Argv and Command are empty.
	Login bool
	// Env holds extra "K=V" entries that override the base environment.
	Env []string
	// Dir is the working directory; "" means the user's home directory,
	// or "/" if that does not exist (as sshd does); a relative Dir is
	// taken from the home directory.
	Dir string
	// ID is the session id (exported as REXEC_SESSION); empty means a
	// fresh random one. A caller that must record the session before it
	// starts (an audit log) picks it with NewID.
	ID string
	// PTY, when non-nil, runs the command on a new pseudo-terminal as the
	// leader of a new session with the terminal as controlling tty.
	PTY *PTYSpec
	// User, when non-nil, runs the command as that account instead of the
	// daemon's own (a root daemon serving another account): see User.
	User *User

	// noCgroup forces the /proc sweep instead of a cgroup (tests).
	noCgroup bool
	// noCgroupKill ignores cgroup.kill and uses freeze+SIGKILL (tests).
	noCgroupKill bool
	// noPidfd waits for the exit in a blocking waitid, as on kernels
	// without a pollable pidfd (tests).
	noPidfd bool
}

// User is an account a session runs as, as a root daemon starts it (as
// sshd's forked child does before it execs the command): the forked child
// sets its supplementary groups, then its group and user ids (all of
// real, effective and saved, so none can be got back), before exec; the
// environment is built from these fields alone, nothing of the daemon's
// (HOME, USER, LOGNAME, SHELL, PATH, MAIL, and TERM on a terminal, then
// Spec.Env); the working directory is Home unless Spec.Dir says
// otherwise; a terminal's slave is given to the account (group TTYGroup,
// mode 0620, as sshd does). The session's cgroup sits below a cgroup of
// the account's own under the daemon's.
type User struct {
	Name     string
	UID, GID uint32
	Groups   []uint32 // supplementary groups, from the group database
	Home     string
	Shell    string // login shell; "" means /bin/sh
	Path     string // PATH of its sessions
	// TTYGroup owns a session's terminal (the "tty" group); negative
	// leaves the terminal's group as the kernel made it.
	TTYGroup int
}

// Status is how the main process ended. Exactly one holds: Err != nil (the
// wait itself failed; Code is -1), Signal != 0 (killed by that signal; Code
// is -1), or Code is the exit code (0..255).
type Status struct {
	Code   int
	Signal syscall.Signal
	Err    error
}

// String formats the status for logs.
func (s Status) String() string {
	switch {
	case s.Err != nil:
		return "wait failed: " + s.Err.Error()
	case s.Signal != 0:
		return "killed by " + s.Signal.String()
	default:
		return fmt.Sprintf("exit %d", s.Code)
	}
}

// Process is one started command and everything it spawns. Create it with
// Start; always call Close, which kills what is left and releases the
// pipes, the terminal, the cgroup and (on Linux) the main process's zombie.
//
// ID, Stdin, Stdout, Stderr, Done and Mechanism may be called from any
// goroutine. Signal, Resize, KillTree and Close are safe concurrently with
// each other and with Wait.
type Process struct {
	id     string
	stdin  io.WriteCloser
	stdout io.Reader
	stderr io.Reader

	done   chan struct{} // closed by the waiter once status is set
	status Status        // written once before done is closed

	killMu   sync.Mutex // serializes KillTree; guards treeDead
	treeDead bool

	closeOnce sync.Once
	closeErr  error

	// pid is the main process's; tty its terminal's device ("" without).
	pid int
	tty string

	sys sysProcess // platform part
}

// ID returns the unique session id, also exported to the session's
// processes as REXEC_SESSION.
func (p *Process) ID() string { return p.id }

// PID returns the main process's pid.
func (p *Process) PID() int { return p.pid }

// TTY returns the device of the session's terminal ("/dev/pts/3"), or ""
// without one: utmp records name it.
func (p *Process) TTY() string { return p.tty }

// Stdin returns the write end of the process's stdin. The caller owns
// writing and closing it; closing delivers EOF (on a PTY it writes ^D, the
// terminal's EOF character, instead). Close of the Process closes it too.
func (p *Process) Stdin() io.WriteCloser { return p.stdin }

// Stdout returns the read end of the process's stdout (on a PTY, the
// terminal's output). It reaches io.EOF once no process of the session
// holds the write end; read it from one goroutine. Close of the Process
// closes it, so drain it to EOF first to get every byte.
func (p *Process) Stdout() io.Reader { return p.stdout }

// Stderr returns the read end of stderr, like Stdout. On a PTY stderr is
// merged into the terminal and this reader is at EOF already.
func (p *Process) Stderr() io.Reader { return p.stderr }

// Done returns a channel closed when the main process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait blocks until the main process has exited and returns its status.
// It does not wait for other processes of the tree nor for the pipes to
// drain. It may be called any number of times from any goroutine.
func (p *Process) Wait() Status {
	<-p.done
	return p.status
}

// Close kills what is left of the tree (KillTree with DefaultGrace), then
// releases every resource of the session. It is idempotent and returns the
// first release error.
func (p *Process) Close() error {
	p.closeOnce.Do(func() {
		p.KillTree(DefaultGrace)
		p.killMu.Lock()
		defer p.killMu.Unlock()
		p.treeDead = true // after release the group id is no longer pinned
		p.closeErr = p.sys.release(p)
	})
	return p.closeErr
}

// KillTree sends SIGTERM to every process of the session, waits up to grace
// for them to exit, then SIGKILLs whatever is left until nothing of the tree
// remains. It returns when the tree is gone or after grace+2s at most. It is
// idempotent and safe concurrently with Wait and itself (callers serialize).
func (p *Process) KillTree(grace time.Duration) {
	p.killMu.Lock()
	defer p.killMu.Unlock()
	if p.treeDead {
		return
	}
	p.treeDead = p.sys.killTree(p, grace)
}

// NewID returns a fresh random session id (16 hex digits), for Spec.ID.
func NewID() string { return newID() }

// newID returns a fresh random session id (16 hex digits).
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return hex.EncodeToString(b[:])
}

// validEnv reports whether every entry is K=V with a non-empty K and no NUL.
func validEnv(env []string) error {
	for _, kv := range env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsRune(kv, 0) {
			return fmt.Errorf("%w: %q", ErrBadEnv, kv)
		}
	}
	return nil
}

// mergeEnv returns base with each "K=V" of over applied: an existing K is
// replaced in place, a new K appended. Later entries win.
func mergeEnv(base []string, over ...string) []string {
	out := make([]string, 0, len(base)+len(over))
	idx := make(map[string]int, len(base)+len(over))
	for _, list := range [][]string{base, over} {
		for _, kv := range list {
			k, _, _ := strings.Cut(kv, "=")
			if i, ok := idx[k]; ok {
				out[i] = kv
				continue
			}
			idx[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// firstNonEmpty returns the first non-empty string of s, or "".
func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// eofReader is an io.Reader that is always at EOF (stderr of a PTY).
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
