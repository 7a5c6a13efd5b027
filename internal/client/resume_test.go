package client_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/server"
)

// resumeEnv is a real server on loopback and a client configured to keep
// TLS session tickets in its own directory.
type resumeEnv struct {
	host, user *auth.Identity
	keys       string // authorized_keys
	cfg        client.Config
	target     client.Target
	stop       func()
	accepts    atomic.Int32 // connections the server accepted
	curve      tls.CurveID  // the key exchange of the last dial
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func newResumeEnv(t *testing.T) *resumeEnv {
	t.Helper()
	dir := t.TempDir()
	e := &resumeEnv{keys: filepath.Join(dir, "authorized_keys")}
	var err error
	if e.host, err = auth.GenerateIdentity("host"); err != nil {
		t.Fatal(err)
	}
	if e.user, err = auth.GenerateIdentity("user"); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.AppendAuthorizedKey(e.keys, e.user.Public, e.user.Comment); err != nil {
		t.Fatal(err)
	}
	e.cfg = client.Config{Identity: e.user, KnownHosts: auth.KnownHosts{Path: filepath.Join(dir, "known_hosts")},
		ConnectTimeout: 10 * time.Second, TicketDir: filepath.Join(dir, "tickets")}
	return e
}

// serve starts (or restarts, on the same port) the server; a restarted
// server has new ticket keys, as a restarted daemon does.
func (e *resumeEnv) serve(t *testing.T, noResumption bool) {
	t.Helper()
	if e.stop != nil {
		e.stop()
	}
	srv, err := server.New(server.Config{HostKey: e.host, AuthorizedKeysPath: e.keys,
		Penalties: server.Penalties{Disabled: true}, NoResumption: noResumption})
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:0"
	if e.target.Port != 0 {
		addr = e.target.Addr()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if e.target.Port == 0 {
		e.target = client.Target{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port}
		if err := e.cfg.KnownHosts.Add([]string{e.target.Addr()}, e.host.Public); err != nil {
			t.Fatal(err)
		}
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(countingListener{ln, &e.accepts}) }()
	e.stop = func() {
		_ = srv.Close()
		if err := <-served; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve() = %v", err)
		}
		e.stop = nil
	}
	t.Cleanup(func() {
		if e.stop != nil {
			e.stop()
		}
	})
}

// dial connects, runs `echo ok` when the connection comes up, and reports
// whether the handshake resumed.
func (e *resumeEnv) dial(t *testing.T) (resumed bool, err error) {
	t.Helper()
	ctx := context.Background()
	c, err := client.Dial(ctx, e.cfg, e.target)
	if err != nil {
		return false, err
	}
	defer c.Close()
	e.curve = c.KeyExchange()
	if err := c.Ready(); err != nil {
		return c.Resumed, err
	}
	var out bytes.Buffer
	res, err := c.Run(ctx, protocol.Exec{Command: "echo ok"}, client.IO{Stdin: bytes.NewReader(nil), Stdout: &out, Stderr: &out})
	if err != nil || res.Exit.Code != 0 || out.String() != "ok\n" {
		t.Fatalf("run on a connection (resumed %v): %v, exit %+v, output %q", c.Resumed, err, res.Exit, out.String())
	}
	return c.Resumed, nil
}

// mustDial dials and checks whether it resumed and which key exchange it
// used: X25519 alone when resumed (the ticket's key came from an ML-KEM
// handshake), X25519MLKEM768 in every full handshake.
func (e *resumeEnv) mustDial(t *testing.T, wantResumed bool) {
	t.Helper()
	resumed, err := e.dial(t)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if resumed != wantResumed {
		t.Fatalf("Dial resumed = %v, want %v", resumed, wantResumed)
	}
	want := tls.X25519MLKEM768
	if resumed {
		want = tls.X25519
	}
	if e.curve != want {
		t.Fatalf("Dial (resumed %v) used key exchange %v, want %v", resumed, e.curve, want)
	}
}

// dialCounted is mustDial that also checks how many TCP connections the
// dial took: 2 when a refused ticket made it connect again.
func (e *resumeEnv) dialCounted(t *testing.T, wantResumed bool, wantConns int32) {
	t.Helper()
	before := e.accepts.Load()
	e.mustDial(t, wantResumed)
	if got := e.accepts.Load() - before; got != wantConns {
		t.Fatalf("Dial took %d connections, want %d", got, wantConns)
	}
}

func ticketFiles(t *testing.T, dir string) []os.FileInfo {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var fis []os.FileInfo
	for _, de := range ents {
		fi, err := de.Info()
		if err != nil {
			t.Fatal(err)
		}
		fis = append(fis, fi)
	}
	return fis
}

func TestResumptionAcrossDials(t *testing.T) {
	e := newResumeEnv(t)
	e.serve(t, false)
	e.mustDial(t, false)
	files := ticketFiles(t, e.cfg.TicketDir)
	if len(files) != 1 || files[0].Mode().Perm() != 0o600 {
		t.Fatalf("ticket files after the first dial: %v", files)
	}
	if fi, err := os.Stat(e.cfg.TicketDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("ticket dir: %v, %v; want mode 0700", fi, err)
	}
	e.mustDial(t, true)
	e.mustDial(t, true)

	// Another identity never uses this identity's ticket.
	other, err := auth.GenerateIdentity("other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.AppendAuthorizedKey(e.keys, other.Public, other.Comment); err != nil {
		t.Fatal(err)
	}
	e.cfg.Identity = other
	e.mustDial(t, false)
	e.mustDial(t, true)
}

func TestResumptionRechecksBothKeys(t *testing.T) {
	t.Run("client key removed from authorized_keys", func(t *testing.T) {
		e := newResumeEnv(t)
		e.serve(t, false)
		e.mustDial(t, false)
		if err := os.WriteFile(e.keys, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := e.dial(t)
		if client.OutcomeOf(err) != outcome.AuthFailed {
			t.Fatalf("resumed dial with a revoked key: %v (outcome %v), want auth_failed", err, client.OutcomeOf(err))
		}
	})
	t.Run("host key pinned for the address changed", func(t *testing.T) {
		e := newResumeEnv(t)
		e.serve(t, false)
		e.mustDial(t, false)
		impostor, err := auth.GenerateIdentity("impostor")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(e.cfg.KnownHosts.Path); err != nil {
			t.Fatal(err)
		}
		if err := e.cfg.KnownHosts.Add([]string{e.target.Addr()}, impostor.Public); err != nil {
			t.Fatal(err)
		}
		_, err = e.dial(t)
		if client.OutcomeOf(err) != outcome.HostKeyMismatch {
			t.Fatalf("resumed dial with another pinned key: %v (outcome %v), want host_key_mismatch", err, client.OutcomeOf(err))
		}
	})
}

func TestResumptionFallsBack(t *testing.T) {
	t.Run("server restarted", func(t *testing.T) {
		e := newResumeEnv(t)
		e.serve(t, false)
		e.mustDial(t, false)
		e.mustDial(t, true)
		e.serve(t, false) // new ticket keys: the stored ticket is useless
		// The refused resumption offered X25519 alone, so that handshake
		// is dropped and the dial connects again with ML-KEM.
		e.dialCounted(t, false, 2)
		e.dialCounted(t, true, 1) // and the refused one was replaced at once
	})
	t.Run("server issues no tickets", func(t *testing.T) {
		e := newResumeEnv(t)
		e.serve(t, true)
		e.dialCounted(t, false, 1)
		e.dialCounted(t, false, 1)
		if files := ticketFiles(t, e.cfg.TicketDir); len(files) != 0 {
			t.Fatalf("ticket files from a server that issues none: %v", files)
		}
	})
	t.Run("server stopped issuing tickets", func(t *testing.T) {
		e := newResumeEnv(t)
		e.serve(t, false)
		e.mustDial(t, false)
		e.serve(t, true) // restarted with --no-resumption
		e.dialCounted(t, false, 2)
		// The refused ticket is gone, so later dials do not pay twice.
		if files := ticketFiles(t, e.cfg.TicketDir); len(files) != 0 {
			t.Fatalf("ticket files after the server refused the ticket: %v", files)
		}
		e.dialCounted(t, false, 1)
	})
	t.Run("ticket file readable by others", func(t *testing.T) {
		e := newResumeEnv(t)
		e.serve(t, false)
		e.mustDial(t, false)
		files := ticketFiles(t, e.cfg.TicketDir)
		path := filepath.Join(e.cfg.TicketDir, files[0].Name())
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		e.mustDial(t, false) // ignored, and replaced by a private one
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("ticket after fallback: %v, %v; want mode 0600", fi, err)
		}
		e.mustDial(t, true)
	})
	t.Run("damaged ticket file", func(t *testing.T) {
		e := newResumeEnv(t)
		e.serve(t, false)
		e.mustDial(t, false)
		files := ticketFiles(t, e.cfg.TicketDir)
		path := filepath.Join(e.cfg.TicketDir, files[0].Name())
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range [][]byte{nil, data[:len(data)/2], append(bytes.Clone(data[:40]), bytes.Repeat([]byte{0xff}, 60)...)} {
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := e.dial(t); err != nil {
				t.Fatalf("dial with a damaged ticket (%d bytes): %v", len(bad), err)
			}
		}
	})
}
