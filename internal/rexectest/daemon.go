package rexectest

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/config"
)

// Bounds of a daemon's start and stop: generous, since several test
// binaries share the machine's cores with it.
const (
	// daemonStartTimeout bounds the wait for every address announced.
	daemonStartTimeout = 30 * time.Second
	// daemonStopTimeout bounds the drain after SIGTERM.
	daemonStopTimeout = 40 * time.Second
	// daemonKillTimeout bounds the wait for a SIGKILLed daemon's exit.
	daemonKillTimeout = 10 * time.Second
	// maxLogLine is the longest log line read; past a longer one (a huge
	// command line logged) the rest of the log is dropped unread, so the
	// daemon never stalls on a full pipe.
	maxLogLine = 1 << 20
)

// servingRE matches the line `rexec serve` prints on stderr for each
// address it listens on.
var servingRE = regexp.MustCompile(`^rexec: serving on (\S+), host key`)

// DaemonOptions shape the daemon StartDaemon starts. The zero value is a
// daemon with a new home directory on 127.0.0.1, its log kept.
type DaemonOptions struct {
	// Home is its REXEC_HOME; "" means a new t.TempDir().
	Home string
	// Args are more arguments of `rexec serve` ("--grace", "2s"). Each
	// --listen given is waited for; with none it listens on 127.0.0.1:0.
	Args []string
	// Env are more environment entries (NAME=value).
	Env []string
	// ExtraFiles become its descriptors 3, 4, ... (a nil entry stays
	// closed), without close-on-exec, as a careless parent would pass them.
	ExtraFiles []*os.File
	// DiscardLogs keeps none of its log: for a load or soak run, whose
	// log would fill the test's memory.
	DiscardLogs bool
	// Prefix runs the daemon through a command: "setpriv --reuid=alice
	// ... --" starts it as another account.
	Prefix []string
}

// Daemon is a `rexec serve` process started by StartDaemon; t's cleanup
// stops it.
type Daemon struct {
	Cmd  *exec.Cmd
	Home string
	// Addrs are the addresses it announced, in --listen order.
	Addrs []string

	done chan struct{} // closed once the process has been waited for
	err  error         // Wait's result, valid after done

	mu   sync.Mutex // mu guards logs
	logs []byte
}

// StartDaemon starts the rexec binary bin as `rexec serve --log-format
// json` with opts and waits until it announced every address it listens
// on; it fails t if that takes longer than daemonStartTimeout.
func StartDaemon(t testing.TB, bin string, opts DaemonOptions) *Daemon {
	t.Helper()
	if opts.Home == "" {
		opts.Home = t.TempDir()
	}
	args := append([]string{"serve", "--log-format", "json"}, opts.Args...)
	listens := countArg(args, "--listen")
	if listens == 0 {
		args, listens = append(args, "--listen", "127.0.0.1:0"), 1
	}
	args = append([]string{bin}, args...)
	if len(opts.Prefix) > 0 {
		args = append(append([]string(nil), opts.Prefix...), args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(append(os.Environ(), config.HomeEnv+"="+opts.Home), opts.Env...)
	cmd.ExtraFiles = opts.ExtraFiles
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{Cmd: cmd, Home: opts.Home, done: make(chan struct{})}
	addrs := make(chan string, listens)
	go d.readLog(stderr, addrs, !opts.DiscardLogs)
	t.Cleanup(func() { d.Stop(t) })
	d.awaitAddrs(t, addrs, listens)
	return d
}

// countArg counts the occurrences of flag in args.
func countArg(args []string, flag string) int {
	n := 0
	for _, a := range args {
		if a == flag {
			n++
		}
	}
	return n
}

// readLog reads the daemon's stderr until it closes, passing on the
// addresses announced, then waits for the process.
func (d *Daemon) readLog(stderr io.Reader, addrs chan<- string, keep bool) {
	defer close(d.done)
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), maxLogLine)
	for sc.Scan() {
		if keep {
			d.mu.Lock()
			d.logs = append(append(d.logs, sc.Bytes()...), '\n')
			d.mu.Unlock()
		}
		if m := servingRE.FindSubmatch(sc.Bytes()); m != nil {
			select {
			case addrs <- string(m[1]):
			default:
			}
		}
	}
	_, _ = io.Copy(io.Discard, stderr) // after an over-long line: never block the daemon
	d.err = d.Cmd.Wait()
}

// awaitAddrs collects n announced addresses into d.Addrs.
func (d *Daemon) awaitAddrs(t testing.TB, addrs <-chan string, n int) {
	t.Helper()
	deadline := time.After(daemonStartTimeout)
	for len(d.Addrs) < n {
		select {
		case a := <-addrs:
			d.Addrs = append(d.Addrs, a)
		case <-d.done:
			t.Fatalf("rexec serve exited (%v) after announcing %d of %d addresses; logs:\n%s", d.err, len(d.Addrs), n, d.Logs())
		case <-deadline:
			t.Fatalf("rexec serve announced %d of %d addresses within %v; logs:\n%s", len(d.Addrs), n, daemonStartTimeout, d.Logs())
		}
	}
}

// Port is the port of the first address it listens on.
func (d *Daemon) Port() string {
	_, port, _ := net.SplitHostPort(d.Addrs[0])
	return port
}

// Logs is what it has written to stderr so far (empty with DiscardLogs).
func (d *Daemon) Logs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return string(d.logs)
}

// logPoll is how often WaitLog looks at the log again.
const logPoll = 20 * time.Millisecond

// WaitLog reports whether the log holds substr within timeout: what the
// daemon logs about a connection may come after the connection's end
// that a test saw.
func (d *Daemon) WaitLog(substr string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if strings.Contains(d.Logs(), substr) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(logPoll)
	}
}

// Done is closed once the process has exited and been waited for.
func (d *Daemon) Done() <-chan struct{} { return d.done }

// Stop sends SIGTERM and waits, at most daemonStopTimeout, for the daemon
// to drain and exit; past that it is killed and t fails. A daemon that
// already exited is left alone.
func (d *Daemon) Stop(t testing.TB) {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(daemonStopTimeout):
		_ = d.Cmd.Process.Kill()
		<-d.done
		t.Errorf("rexec serve did not exit within %v of SIGTERM", daemonStopTimeout)
	}
}

// Kill SIGKILLs the daemon, as the OOM killer would, and waits (at most
// daemonKillTimeout) until it is reaped.
func (d *Daemon) Kill(t testing.TB) {
	t.Helper()
	_ = d.Cmd.Process.Kill()
	select {
	case <-d.done:
	case <-time.After(daemonKillTimeout):
		t.Fatalf("rexec serve not gone %v after SIGKILL", daemonKillTimeout)
	}
}
