package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// rexecBin is the binary built once by TestMain: the end-to-end tests run
// real processes on real sockets, as a user would.
var rexecBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rexec-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rexecBin = filepath.Join(dir, "rexec")
	build := exec.Command("go", "build", "-o", rexecBin, "../../cmd/rexec")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building rexec:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// daemon is a `rexec serve` process started by a test.
type daemon struct {
	cmd  *exec.Cmd
	home string
	port string // the port it listens on
	logs *syncBuffer
	done chan error
}

var servingRE = regexp.MustCompile(`serving on 127\.0\.0\.1:(\d+)`)

// startDaemon starts `rexec serve` with the given home and extra flags, on
// a free loopback port unless the flags give --listen, and waits until it announces its address.
func startDaemon(t *testing.T, home string, flags ...string) *daemon {
	t.Helper()
	return startDaemonWith(t, home, nil, flags...)
}

// startDaemonWith is startDaemon for a daemon that inherits extra open
// descriptors: extra[i] becomes its descriptor 3+i (a nil entry stays
// closed), without close-on-exec, as a careless parent would pass them.
func startDaemonWith(t *testing.T, home string, extra []*os.File, flags ...string) *daemon {
	t.Helper()
	args := append([]string{"serve", "--log-format", "json"}, flags...)
	if !slices.Contains(flags, "--listen") {
		args = append(args, "--listen", "127.0.0.1:0")
	}
	cmd := exec.Command(rexecBin, args...)
	cmd.Env = append(os.Environ(), "REXEC_HOME="+home)
	cmd.ExtraFiles = extra
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, home: home, logs: &syncBuffer{}, done: make(chan error, 1)}
	portc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			d.logs.WriteString(line + "\n")
			if m := servingRE.FindStringSubmatch(line); m != nil {
				select {
				case portc <- m[1]:
				default:
				}
			}
		}
		d.done <- cmd.Wait()
	}()
	t.Cleanup(func() { d.stop(t) })
	select {
	case d.port = <-portc:
	case <-time.After(20 * time.Second):
		t.Fatalf("rexec serve did not start; logs:\n%s", d.logs)
	}
	return d
}

// syncBuffer is a bytes.Buffer safe for the log reader goroutine and the
// test reading it at the same time.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// stop sends SIGTERM and waits (bounded) for the daemon to exit.
func (d *daemon) stop(t *testing.T) {
	if d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(40 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
		t.Errorf("rexec serve did not exit after SIGTERM")
	}
}

// kill SIGKILLs the daemon, as the OOM killer would, and waits (bounded)
// until it is reaped.
func (d *daemon) kill(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Kill()
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		t.Fatal("rexec serve not gone 10 s after SIGKILL")
	}
}

// host is the target for this daemon as a user would write it.
func (d *daemon) host() string { return "localhost:" + d.port }

// result is what a finished client process left.
type result struct {
	stdout, stderr string
	code           int
}

// rexec runs the client with REXEC_HOME=home, stdin from in (nil: empty),
// bounded by a minute.
func rexec(t *testing.T, home string, in io.Reader, args ...string) result {
	t.Helper()
	return rexecEnv(t, home, nil, in, args...)
}

// rexecEnv is rexec with env (NAME=value) added to its environment.
func rexecEnv(t *testing.T, home string, env []string, in io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rexecBin, args...)
	cmd.Env = append(append(os.Environ(), "REXEC_HOME="+home), env...)
	cmd.Stdin = in
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("rexec %v did not finish within a minute; stdout %q stderr %q", args, out.String(), errb.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("rexec %v: %v", args, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode()}
}

// startRexec starts the client with REXEC_HOME=home and returns it with
// its stdout; the caller waits for it.
func startRexec(t *testing.T, home string, args ...string) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	cmd := exec.Command(rexecBin, args...)
	cmd.Env = append(os.Environ(), "REXEC_HOME="+home)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, out
}

// pidAlive reports whether pid exists and is not a zombie.
func pidAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitGone polls until none of pids is alive or the deadline passes, and
// returns the ones still alive.
func waitGone(pids []int, within time.Duration) []int {
	deadline := time.Now().Add(within)
	for {
		var alive []int
		for _, p := range pids {
			if pidAlive(p) {
				alive = append(alive, p)
			}
		}
		if len(alive) == 0 || time.Now().After(deadline) {
			return alive
		}
		time.Sleep(50 * time.Millisecond)
	}
}
