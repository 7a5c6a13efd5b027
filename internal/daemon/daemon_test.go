package daemon

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/config"
	"github.com/rexec-dev/rexec/internal/rexectest"
)

// testTimeout bounds every wait on an in-process daemon.
const testTimeout = 20 * time.Second

func TestDefaultPort(t *testing.T) {
	if DefaultPort != client.DefaultPort {
		t.Errorf("DefaultPort = %d, client.DefaultPort = %d: a hint without a port would reach another", DefaultPort, client.DefaultPort)
	}
	if _, port, _ := net.SplitHostPort(DefaultListen); port != strconv.Itoa(DefaultPort) {
		t.Errorf("DefaultListen %s is not on DefaultPort %d", DefaultListen, DefaultPort)
	}
}

func TestHint(t *testing.T) {
	tcp := func(s string) net.Addr { return net.TCPAddrFromAddrPort(netipAddrPort(t, s)) }
	tests := []struct {
		addr net.Addr
		want string
	}{
		{tcp("127.0.0.1:7022"), "localhost"},
		{tcp("127.0.0.1:7023"), "localhost:7023"},
		{tcp("127.0.0.2:7023"), "127.0.0.2:7023"},
		{tcp("127.0.0.2:7022"), "127.0.0.2"},
		{tcp("0.0.0.0:7023"), "localhost:7023"},
		{tcp("[::]:7023"), "localhost:7023"},
		{tcp("[::1]:7023"), "[::1]:7023"},
		{tcp("[::1]:7022"), "::1"},
		{tcp("[::ffff:127.0.0.1]:7023"), "localhost:7023"},
		{tcp("192.0.2.7:7023"), "192.0.2.7:7023"},
		{tcp("[2001:db8::1]:7023"), "[2001:db8::1]:7023"},
		{&net.UnixAddr{Name: "/run/x", Net: "unix"}, "localhost"},
	}
	for _, tt := range tests {
		if got := hint(tt.addr); got != tt.want {
			t.Errorf("hint(%v) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

// TestRunHintConnects: a daemon in-process on each loopback address
// prints a hint naming a host that a client with the home's identity
// and known_hosts reaches without being asked about the key: the
// address it listens on, pinned.
func TestRunHintConnects(t *testing.T) {
	tests := []struct {
		listen, wantPrefix string
	}{
		{"127.0.0.1:0", "localhost:"},
		{"127.0.0.2:0", "127.0.0.2:"},
		{"[::1]:0", "[::1]:"},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			if ln, err := net.Listen("tcp", tt.listen); err != nil {
				t.Skipf("no %s here: %v", tt.listen, err)
			} else {
				ln.Close()
			}
			home := config.Home{Dir: t.TempDir()}
			d := start(t, home, func(f *config.ServerFile) { f.Listen = []string{tt.listen} })
			h := d.line(t, "rexec: try: rexec run ")
			h = strings.TrimSuffix(strings.TrimPrefix(h, "rexec: try: rexec run "), " -- uname -a")
			if !strings.HasPrefix(h, tt.wantPrefix) {
				t.Fatalf("hint %q, want %s...", h, tt.wantPrefix)
			}
			target, err := client.ParseTarget(h, client.DefaultPort)
			if err != nil {
				t.Fatal(err)
			}
			id, err := auth.LoadIdentity(home.Path(config.IdentityFile))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			c, err := client.Dial(ctx, client.Config{Identity: id, KnownHosts: auth.KnownHosts{Path: home.Path(config.KnownHostsFile)}}, target)
			if err != nil {
				t.Fatalf("dialling the hint %q: %v", h, err)
			}
			c.Close()
			if err := d.stop(); err != nil {
				t.Errorf("Run after ctx ended = %v, want nil", err)
			}
		})
	}
}

// TestRunSettingsErrors: settings Run cannot use are a *SettingsError
// (rexec serve exits 2), failures to run are not (exit 1); CheckOnly
// says so on Stdout and starts nothing.
func TestRunSettingsErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name     string
		path     string
		set      func(*config.ServerFile)
		settings bool   // want a *SettingsError
		is       error  // and errors.Is this, when set
		part     string // in the message
	}{
		{"bad max-startups", "", func(f *config.ServerFile) { f.MaxStartups = "9:9" }, true, config.ErrServerFile, "max_startups"},
		{"missing explicit config", "missing.toml", nil, true, fs.ErrNotExist, "missing.toml"},
		{"unknown legacy user", "", func(f *config.ServerFile) {
			f.LegacyListen, f.LegacyAllowUsers = "127.0.0.1:0", []string{"rexec-no-such-user"}
		}, true, nil, "legacy_allow_users"},
		{"non-loopback legacy listener", "", func(f *config.ServerFile) { f.LegacyListen = "192.0.2.1:7000" },
			true, nil, "--legacy-allow-remote"},
		{"address in use", "", func(f *config.ServerFile) { f.Listen = []string{busy.Addr().String()} }, false, nil, "in use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := config.Home{Dir: t.TempDir()}
			flags := Defaults()
			if tt.set != nil {
				tt.set(&flags)
			}
			path := ""
			if tt.path != "" {
				path = filepath.Join(home.Dir, tt.path)
			}
			var stdout, stderr bytes.Buffer
			err := Run(context.Background(), Options{Home: home, ConfigPath: path, Flags: config.Flags{Values: flags},
				Stdout: &stdout, Stderr: &stderr, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			var se *SettingsError
			if err == nil || errors.As(err, &se) != tt.settings || !strings.Contains(err.Error(), tt.part) {
				t.Fatalf("Run = %v (settings error: %v), want settings error %v naming %q", err, errors.As(err, &se), tt.settings, tt.part)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Run = %v, want an error wrapping %v", err, tt.is)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
	home := config.Home{Dir: t.TempDir()}
	var stdout bytes.Buffer
	if err := Run(context.Background(), Options{Home: home, Flags: config.Flags{Values: Defaults()}, CheckOnly: true, Stdout: &stdout}); err != nil || stdout.String() != "configuration ok\n" {
		t.Errorf("CheckOnly: %v, stdout %q", err, stdout.String())
	}
	if _, err := auth.LoadIdentity(home.Path(config.HostKeyFile)); err == nil {
		t.Errorf("CheckOnly created a host key")
	}
}

// running is a daemon Run in-process by a test.
type running struct {
	cancel context.CancelFunc
	done   chan error
	lines  chan string // stderr, line by line
	log    *rexectest.SyncBuffer
}

// start runs a daemon on home with Defaults() changed by set, and
// returns once it announced where it serves; the test's cleanup stops it.
func start(t *testing.T, home config.Home, set func(*config.ServerFile)) *running {
	t.Helper()
	flags := Defaults()
	set(&flags)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	r := &running{cancel: cancel, done: make(chan error, 1), lines: make(chan string, 64), log: &rexectest.SyncBuffer{}}
	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		defer close(r.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case r.lines <- sc.Text():
			default: // nobody waits for it
			}
		}
	}()
	go func() {
		err := Run(ctx, Options{Home: home, Flags: config.Flags{Values: flags}, Stderr: pw,
			Logger: slog.New(slog.NewTextHandler(r.log, nil))})
		pw.Close()
		readers.Wait()
		r.done <- err
	}()
	t.Cleanup(func() {
		if r.cancel != nil {
			r.stop()
		}
	})
	return r
}

// line waits (bounded) for a stderr line starting with prefix.
func (r *running) line(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				t.Fatalf("daemon ended before printing %q; log:\n%s", prefix, r.log)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("no %q from the daemon; log:\n%s", prefix, r.log)
		}
	}
}

// stop ends the daemon's context and returns Run's error.
func (r *running) stop() error {
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		return err
	case <-time.After(testTimeout):
		return errors.New("daemon did not stop")
	}
}

func netipAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}
