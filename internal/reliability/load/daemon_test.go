//go:build load && linux

package load

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/config"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// rexecBin is the binary built once by TestMain: the daemon under load is
// the real `rexec serve`, in its own process, so /proc tells its cost.
var rexecBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rexec-load-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rexecBin = filepath.Join(dir, "rexec")
	build := exec.Command("go", "build", "-o", rexecBin, "../../../cmd/rexec")
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

// envInt and envDuration read a test knob from the environment.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// daemon is a `rexec serve` process and a client configuration for it
// (the zero-config first run creates, authorizes and pins the keys).
type daemon struct {
	cmd    *exec.Cmd
	pid    int
	home   string
	target client.Target
	cfg    client.Config
	done   chan error

	mu    sync.Mutex // mu guards lines
	lines int        // log lines written so far
}

var servingRE = regexp.MustCompile(`serving on 127\.0\.0\.1:(\d+)`)

func startDaemon(t *testing.T) *daemon {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(rexecBin, "serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--grace", "5s")
	cmd.Env = append(os.Environ(), config.HomeEnv+"="+home)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, pid: cmd.Process.Pid, home: home, done: make(chan error, 1)}
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			d.mu.Lock()
			d.lines++
			d.mu.Unlock()
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case port <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		d.done <- cmd.Wait()
	}()
	t.Cleanup(func() { d.stop(t) })
	select {
	case p := <-port:
		n, _ := strconv.Atoi(p)
		d.target = client.Target{Host: "127.0.0.1", Port: n}
	case <-time.After(30 * time.Second):
		t.Fatal("rexec serve did not announce its address")
	}
	id, err := auth.LoadIdentity(filepath.Join(home, config.IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	d.cfg = client.Config{Identity: id, KnownHosts: auth.KnownHosts{Path: filepath.Join(home, config.KnownHostsFile)},
		ConnectTimeout: time.Minute, Software: "rexec-load"}
	return d
}

func (d *daemon) stop(t *testing.T) {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(40 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
		t.Errorf("rexec serve did not exit within 40 s of SIGTERM")
	}
}

func (d *daemon) dial(ctx context.Context) (*client.Conn, error) {
	return client.Dial(ctx, d.cfg, d.target)
}

// run dials, runs req and closes.
func (d *daemon) run(ctx context.Context, req protocol.Exec, sio client.IO) (client.Result, error) {
	c, err := d.dial(ctx)
	if err != nil {
		return client.Result{}, err
	}
	defer c.Close()
	if sio.Stdout == nil {
		sio.Stdout = io.Discard
	}
	if sio.Stderr == nil {
		sio.Stderr = io.Discard
	}
	return c.Run(ctx, req, sio)
}

// warm runs n short sessions, so that the daemon's pools, buffers and
// threads exist before anything is measured.
func (d *daemon) warm(t *testing.T, n int) {
	t.Helper()
	for range n {
		if _, err := d.run(context.Background(), protocol.Exec{Argv: []string{"true"}}, client.IO{}); err != nil {
			t.Fatalf("warm-up session: %v", err)
		}
	}
}

// procStats is what /proc says of a process.
type procStats struct {
	rssKiB   int // VmRSS
	threads  int
	fds      int
	children int // direct children (session processes)
	cpu      time.Duration
}

func (s procStats) String() string {
	return fmt.Sprintf("RSS %.1f MiB, %d threads, %d fds, %d children, CPU %v",
		float64(s.rssKiB)/1024, s.threads, s.fds, s.children, s.cpu.Round(time.Millisecond))
}

func statsOf(pid int) procStats {
	var s procStats
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case "VmRSS:":
				s.rssKiB, _ = strconv.Atoi(f[1])
			case "Threads:":
				s.threads, _ = strconv.Atoi(f[1])
			}
		}
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		s.fds = len(ents)
	}
	if f := statFields(pid); len(f) > 12 {
		ut, _ := strconv.Atoi(f[11])
		st, _ := strconv.Atoi(f[12])
		s.cpu = time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
	}
	s.children = len(childrenOf(pid))
	return s
}

func (d *daemon) stats() procStats { return statsOf(d.pid) }

// statFields returns the fields of /proc/pid/stat after the command name
// (state is [0], ppid [1], utime [11], stime [12]).
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// childrenOf lists the live (not zombie) children of pid.
func childrenOf(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	want := strconv.Itoa(pid)
	var kids []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := statFields(n); len(f) > 1 && f[1] == want && f[0] != "Z" {
			kids = append(kids, n)
		}
	}
	return kids
}

// eventually polls cond every 50 ms until it holds or d has passed.
func eventually(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// waitIdle waits until the daemon has no session process left and its
// descriptors are back to want (0: any), and returns its stats.
func (d *daemon) waitIdle(t *testing.T, wantFDs int, bound time.Duration) procStats {
	t.Helper()
	var s procStats
	if !eventually(bound, func() bool {
		s = d.stats()
		return s.children == 0 && (wantFDs == 0 || s.fds == wantFDs)
	}) {
		t.Errorf("daemon not idle %v after the load: %v (want %d fds)", bound, s, wantFDs)
	}
	return s
}

// selfRSS is this test process's resident memory (the clients).
func selfRSS() int { return statsOf(os.Getpid()).rssKiB }
