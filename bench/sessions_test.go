//go:build linux

package bench

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
)

// Session rate as another account (docs/BENCHMARKS.md, "New sessions per
// second as another account"): a root `rexec serve` and a private sshd
// on 127.0.0.1, side by side in one run, each serving a fresh account
// the benchmark creates. A session is what a new user of each costs the
// server: a fresh TCP connection, the handshake with key authentication,
// `true` run as the account to its exit, and the close. The clients run
// in this process (rexec's client package, x/crypto/ssh), sessionWorkers
// at a time, so the figure is the daemon's rate, not that of starting
// client processes.

// sessionWorkers is how many sessions are in flight at once: enough to
// keep two cores busy through every wait of a session.
const sessionWorkers = 16

// BenchmarkSessionRate reports rexec-sessions/s and sshd-sessions/s
// (REXEC_BENCH_RATE_TIME each, default 10 s). Run it with -benchtime 1x;
// it needs root, useradd and /usr/sbin/sshd.
func BenchmarkSessionRate(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: the sessions run as an account the benchmark creates")
	}
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		b.Skip("needs /usr/sbin/sshd (apt-get install openssh-server)")
	}
	dur := 10 * time.Second
	if v := os.Getenv("REXEC_BENCH_RATE_TIME"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("REXEC_BENCH_RATE_TIME: %v", err)
		}
		dur = d
	}
	acct := rexectest.NewAccount(b, rexectest.AccountOptions{})
	id, err := auth.GenerateIdentity("bench")
	if err != nil {
		b.Fatal(err)
	}
	rexecDial := startRexecForAccount(b, acct, id)
	sshDial := startSSHDForAccount(b, acct, id)
	for b.Loop() {
		for _, side := range []struct {
			name    string
			session func(context.Context) error
		}{{"rexec", rexecDial}, {"sshd", sshDial}} {
			n, errs, took := sessionRate(side.session, dur)
			if errs > 0 {
				b.Errorf("%s: %d sessions failed", side.name, errs)
			}
			b.ReportMetric(float64(n)/took.Seconds(), side.name+"-sessions/s")
		}
	}
}

// sessionRate runs session from sessionWorkers goroutines for dur and
// returns the sessions completed, those that failed, and the time taken.
func sessionRate(session func(context.Context) error, dur time.Duration) (int64, int64, time.Duration) {
	var n, errs atomic.Int64
	deadline := time.Now().Add(dur)
	start := time.Now()
	var wg sync.WaitGroup
	for range sessionWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := session(ctx)
				cancel()
				if err != nil {
					errs.Add(1)
					continue
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return n.Load(), errs.Load(), time.Since(start)
}

// buildRexec builds cmd/rexec into dir, as a user's `make build` does.
func buildRexec(b *testing.B, dir string) string {
	bin := filepath.Join(dir, "rexec")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/rexec")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startRexecForAccount starts a root rexec daemon whose account acct has
// id's key in its own authorized_keys, and returns one session of it.
func startRexecForAccount(b *testing.B, acct *rexectest.Account, id *auth.Identity) func(context.Context) error {
	bin := buildRexec(b, b.TempDir())
	dir := filepath.Join(acct.Home, ".config", "rexec")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	keys := filepath.Join(dir, "authorized_keys")
	if _, err := auth.AppendAuthorizedKey(keys, id.Public, id.Comment); err != nil {
		b.Fatal(err)
	}
	for _, p := range []string{filepath.Join(acct.Home, ".config"), dir, keys} {
		if err := os.Chown(p, acct.UID, acct.GID); err != nil {
			b.Fatal(err)
		}
	}
	d := rexectest.StartDaemon(b, bin, rexectest.DaemonOptions{DiscardLogs: true,
		Args: []string{"--penalty-exempt", "127.0.0.0/8", "--max-startups", "1000"}})
	port, _ := strconv.Atoi(d.Port())
	cfg := client.Config{Identity: id, KnownHosts: auth.KnownHosts{Path: filepath.Join(b.TempDir(), "known_hosts")},
		AcceptNew: true, User: acct.Name}
	tgt := client.Target{Host: "127.0.0.1", Port: port}
	if err := rexecSession(context.Background(), cfg, tgt); err != nil { // pins the host key
		b.Fatalf("rexec as %s: %v", acct.Name, err)
	}
	return func(ctx context.Context) error { return rexecSession(ctx, cfg, tgt) }
}

func rexecSession(ctx context.Context, cfg client.Config, t client.Target) error {
	c, err := client.Dial(ctx, cfg, t)
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := c.Run(ctx, protocol.Exec{Argv: []string{"true"}}, client.IO{Stdout: io.Discard, Stderr: io.Discard})
	if err == nil && res.Exit.Code != 0 {
		err = fmt.Errorf("true exited with %+v", res.Exit)
	}
	return err
}

// startSSHDForAccount starts a private sshd on 127.0.0.1 (its own config,
// host key and authorized_keys, as bench/compare.sh's) that lets id in as
// acct, and returns one session of it.
func startSSHDForAccount(b *testing.B, acct *rexectest.Account, id *auth.Identity) func(context.Context) error {
	dir := b.TempDir()
	// sshd reads authorized_keys with the account's ids: the directory
	// and the one testing made for this benchmark's temporary
	// directories must let the account in.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey).CombinedOutput(); err != nil {
		b.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, err := ssh.NewPublicKey(id.Public)
	if err != nil {
		b.Fatal(err)
	}
	keys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(keys, ssh.MarshalAuthorizedKey(pub), 0o644); err != nil {
		b.Fatal(err)
	}
	port := rexectest.FreePort(b)
	conf := filepath.Join(dir, "sshd_config")
	text := fmt.Sprintf(`ListenAddress 127.0.0.1
Port %s
HostKey %s
PidFile %s/sshd.pid
AuthorizedKeysFile %s
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
MaxStartups 1000:30:1000
MaxSessions 100
LogLevel ERROR
`, port, hostKey, dir, keys)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // its privilege separation directory
		b.Fatal(err)
	}
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", conf)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	signer, err := ssh.NewSignerFromKey(ed25519.PrivateKey(id.Private))
	if err != nil {
		b.Fatal(err)
	}
	cc := &ssh.ClientConfig{User: acct.Name, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second} // our own sshd on loopback
	addr := net.JoinHostPort("127.0.0.1", port)
	session := func(ctx context.Context) error { return sshSession(ctx, addr, cc) }
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := session(context.Background())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("sshd as %s: %v", acct.Name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return session
}

func sshSession(ctx context.Context, addr string, cc *ssh.ClientConfig) error {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	conn, chans, reqs, err := ssh.NewClientConn(nc, addr, cc)
	if err != nil {
		nc.Close()
		return err
	}
	c := ssh.NewClient(conn, chans, reqs)
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Run("true")
}
