//go:build load && linux

package load

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/config"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
)

// rexecBin is the binary built once by TestMain: the daemon under load is
// the real `rexec serve`, in its own process, so /proc tells its cost.
var rexecBin string

func TestMain(m *testing.M) { rexectest.MainWithBinary(m, &rexecBin) }

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
	*rexectest.Daemon
	pid    int
	target client.Target
	cfg    client.Config
}

func startDaemon(t *testing.T) *daemon {
	t.Helper()
	rd := rexectest.StartDaemon(t, rexecBin, rexectest.DaemonOptions{Args: []string{"--grace", "5s"}, DiscardLogs: true})
	port, err := strconv.Atoi(rd.Port())
	if err != nil {
		t.Fatal(err)
	}
	id, err := auth.LoadIdentity(filepath.Join(rd.Home, config.IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	return &daemon{Daemon: rd, pid: rd.Cmd.Process.Pid, target: client.Target{Host: "127.0.0.1", Port: port},
		cfg: client.Config{Identity: id, KnownHosts: auth.KnownHosts{Path: filepath.Join(rd.Home, config.KnownHostsFile)},
			ConnectTimeout: time.Minute, Software: "rexec-load"}}
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
	rss, _ := rexectest.Status(pid, "VmRSS")
	threads, _ := rexectest.Status(pid, "Threads")
	return procStats{rssKiB: int(rss), threads: int(threads), fds: rexectest.OpenFDs(pid),
		children: len(rexectest.Children(pid)), cpu: rexectest.CPU(pid)}
}

func (d *daemon) stats() procStats { return statsOf(d.pid) }

// waitIdle waits until the daemon has no session process left and its
// descriptors are back to want (0: any), and returns its stats.
func (d *daemon) waitIdle(t *testing.T, wantFDs int, bound time.Duration) procStats {
	t.Helper()
	var s procStats
	if !rexectest.Eventually(bound, func() bool {
		s = d.stats()
		return s.children == 0 && (wantFDs == 0 || s.fds == wantFDs)
	}) {
		t.Errorf("daemon not idle %v after the load: %v (want %d fds)", bound, s, wantFDs)
	}
	return s
}

// selfRSS is this test process's resident memory (the clients).
func selfRSS() int { return statsOf(os.Getpid()).rssKiB }

// otherAccount creates an account (removed after the test) whose own
// authorized_keys holds the load client's key, and returns its name.
func (d *daemon) otherAccount(t *testing.T) string {
	a := rexectest.NewAccount(t, rexectest.AccountOptions{})
	dir := filepath.Join(a.Home, ".config", "rexec")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	pub := auth.AuthorizedLine(d.cfg.Identity.Public, "load") + "\n"
	file := filepath.Join(dir, config.AuthorizedKeysFile)
	if err := os.WriteFile(file, []byte(pub), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(a.Home, ".config"), dir, file} {
		if err := os.Chown(p, a.UID, a.GID); err != nil {
			t.Fatal(err)
		}
	}
	return a.Name
}
