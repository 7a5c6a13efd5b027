//go:build linux

package server

import (
	"crypto/tls"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transport"
)

// TestUnauthorized connects with keys the server must refuse and pipelines
// hello and an exec right after the handshake: the answer is an
// unauthorized error (or a failed connection) and nothing runs.
func TestUnauthorized(t *testing.T) {
	ts := startServer(t, Config{})
	stranger := newIdentity(t, "stranger")
	restricted := newIdentity(t, "restricted")
	line := `from="10.9.8.7" ` + auth.AuthorizedLine(restricted.Public, restricted.Comment) + "\n"
	f, err := os.OpenFile(ts.keysPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(line); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := ts.Reload(); err != nil {
		t.Fatalf("Reload() = %v", err)
	}
	tests := []struct {
		name string
		id   *auth.Identity
	}{
		{"key not listed", stranger},
		{"from= excludes 127.0.0.1", restricted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "ran")
			tc, err := tlsClient(ts.dialTCP(t), tt.id, ts.host.Public)
			if err != nil {
				t.Logf("handshake refused: %v", err) // also acceptable: nothing can run
				return
			}
			pc := protocol.NewConn(tc)
			_ = pc.Send(protocol.Hello{Version: protocol.Version})
			_ = pc.Send(protocol.Exec{Argv: []string{"touch", marker}})
			_ = pc.Send(protocol.StdinEOF{})
			codes, err := readUntilClosed(tc, testTimeout)
			if err != nil {
				t.Errorf("unauthorized key: %v, want the connection closed", err)
			}
			if len(codes) != 1 || codes[0] != protocol.CodeUnauthorized {
				t.Errorf("unauthorized key: error codes %q, want [%q]", codes, protocol.CodeUnauthorized)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Errorf("an unauthorized client ran a command: %s exists", marker)
			}
		})
	}
	ts.checkOK(t)
}

// TestUnauthorizedErrorFrame sends its hello and then waits for the
// server's verdict, so the error frame must arrive, in place of the
// server's hello (PROTOCOL.md §1.7: the hello, which names the account,
// is the one frame the server reads before it authorizes the key).
func TestUnauthorizedErrorFrame(t *testing.T) {
	ts := startServer(t, Config{})
	tc, err := tlsClient(ts.dialTCP(t), newIdentity(t, "stranger"), ts.host.Public)
	if err != nil {
		t.Fatalf("handshake = %v", err)
	}
	if err := protocol.NewConn(tc).Send(protocol.Hello{Version: protocol.Version}); err != nil {
		t.Fatal(err)
	}
	codes, err := readUntilClosed(tc, testTimeout)
	if err != nil || len(codes) != 1 || codes[0] != protocol.CodeUnauthorized {
		t.Errorf("unauthorized key: codes %q, %v; want [%q] and the connection closed",
			codes, err, protocol.CodeUnauthorized)
	}
}

// TestReloadAuthorizes shows authorized_keys is re-read by Reload.
func TestReloadAuthorizes(t *testing.T) {
	ts := startServer(t, Config{})
	late := newIdentity(t, "late")
	if c, err := ts.connect(late); err == nil {
		c.close()
		t.Fatal("connect with a key not yet listed succeeded")
	}
	if _, err := auth.AppendAuthorizedKey(ts.keysPath, late.Public, late.Comment); err != nil {
		t.Fatal(err)
	}
	if err := ts.Reload(); err != nil {
		t.Fatalf("Reload() = %v", err)
	}
	c, err := ts.connect(late)
	if err != nil {
		t.Fatalf("connect after Reload = %v", err)
	}
	c.close()
}

// TestHello checks the server's hello and its refusals.
func TestHello(t *testing.T) {
	ts := startServer(t, Config{Software: "rexec/test"})
	me, err := user.Current()
	if err != nil {
		t.Fatalf("user.Current() = %v", err)
	}
	tests := []struct {
		name     string
		first    protocol.Message
		wantCode string // "" means the server answers hello
	}{
		{"plain", protocol.Hello{Version: protocol.Version}, ""},
		{"own user", protocol.Hello{Version: protocol.Version, User: me.Username}, ""},
		{"next version", protocol.Hello{Version: protocol.Version + 1}, protocol.CodeUnsupportedVersion},
		// As root the server serves every account: one that does not exist
		// is refused as a key is, not named as missing (docs/SECURITY.md,
		// "Accounts"); a daemon of another user refuses it as denied
		// (TestNonRootDaemonServesItsOwnAccount).
		{"unknown user", protocol.Hello{Version: protocol.Version, User: "no-such-user", UserExplicit: true}, protocol.CodeUnauthorized},
		{"implicit other user", protocol.Hello{Version: protocol.Version, User: "no-such-user"}, protocol.CodeUnauthorized},
		{"exec before hello", protocol.Exec{Command: "true"}, protocol.CodeProtocol},
		{"ping before hello", protocol.Ping{}, protocol.CodeProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := tlsClient(ts.dialTCP(t), ts.client, ts.host.Public)
			if err != nil {
				t.Fatal(err)
			}
			pc := protocol.NewConn(tc)
			defer pc.Close()
			if err := pc.Send(tt.first); err != nil {
				t.Fatal(err)
			}
			tc.SetReadDeadline(time.Now().Add(testTimeout))
			m, err := pc.Recv()
			if err != nil {
				t.Fatalf("first message %#v: recv = %v", tt.first, err)
			}
			if tt.wantCode == "" {
				h, ok := m.(protocol.Hello)
				want := protocol.Hello{Version: protocol.Version, Software: "rexec/test", OS: hostOS(),
					Encoding: "utf-8", User: me.Username}
				if !ok || !reflect.DeepEqual(h, want) {
					t.Fatalf("hello %#v: reply %#v, want %#v", tt.first, m, want)
				}
				return
			}
			if e, ok := m.(protocol.Error); !ok || e.Code != tt.wantCode {
				t.Fatalf("hello %#v: reply %#v, want error code %q", tt.first, m, tt.wantCode)
			}
			if _, err := readUntilClosed(tc, testTimeout); err != nil {
				t.Errorf("after a refused hello: %v", err)
			}
		})
	}
}

// TestLoginGrace checks the absolute deadline from accept to
// authenticated: silence, a byte every 100 ms, and a completed handshake
// without hello all get the connection closed.
func TestLoginGrace(t *testing.T) {
	ts := startServer(t, Config{LoginGrace: 300 * time.Millisecond})
	const bound = 10 * time.Second // far above the grace, far below forever
	t.Run("silent", func(t *testing.T) {
		nc := ts.dialTCP(t)
		if err := rawCloseWait(nc, bound); err != nil {
			t.Errorf("silent pre-auth connection: %v", err)
		}
	})
	t.Run("drip", func(t *testing.T) {
		nc := ts.dialTCP(t)
		// A TLS handshake record announcing 16383 bytes, then one byte per
		// 100 ms: every read makes progress, so only an absolute deadline
		// ends it.
		stop := make(chan struct{})
		dripped := make(chan int)
		go func() {
			n := 0
			defer func() { dripped <- n }()
			if _, err := nc.Write([]byte{0x16, 0x03, 0x01, 0x3f, 0xff}); err != nil {
				return
			}
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				nc.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := nc.Write([]byte{0}); err != nil {
					return
				}
				n++
			}
		}()
		err := rawCloseWait(nc, bound)
		close(stop)
		n := <-dripped
		if err != nil {
			t.Errorf("dripping pre-auth connection (%d bytes dripped): %v", n, err)
		}
	})
	t.Run("no hello", func(t *testing.T) {
		tc, err := tlsClient(ts.dialTCP(t), ts.client, ts.host.Public)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := readUntilClosed(tc, bound); err != nil {
			t.Errorf("authenticated connection without hello: %v", err)
		}
	})
	t.Run("deadline lifted after hello", func(t *testing.T) {
		c := ts.dial(t)
		time.Sleep(600 * time.Millisecond) // twice the grace: must not matter now
		r := c.mustRun(t, protocol.Exec{Command: "echo ok"}, "")
		if r.exit == nil || r.exit.Code != 0 || r.stdout != "ok\n" {
			t.Errorf("exec after the grace period = %v, want ok and exit 0", r)
		}
	})
}

// TestHandshakeRefusals: TLS clients the server must not accept.
func TestHandshakeRefusals(t *testing.T) {
	ts := startServer(t, Config{})
	cert, err := transport.SelfSignedCert(ts.client)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  *tls.Config
	}{
		{"no client certificate", &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13,
			NextProtos: []string{transport.ALPN}}},
		{"no ALPN", &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13,
			Certificates: []tls.Certificate{cert}}},
		{"TLS 1.2", &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
			Certificates: []tls.Certificate{cert}, NextProtos: []string{transport.ALPN}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := tls.Client(ts.dialTCP(t), tt.cfg)
			tc.SetDeadline(time.Now().Add(testTimeout))
			if err := tc.Handshake(); err != nil {
				return // refused during the handshake
			}
			// TLS 1.3 clients finish before the server checks them: the
			// refusal then shows as a closed connection.
			pc := protocol.NewConn(tc)
			_ = pc.Send(protocol.Hello{Version: protocol.Version})
			m, err := pc.Recv()
			if err == nil {
				t.Errorf("%s: server answered %#v, want the connection refused", tt.name, m)
			}
		})
	}
	ts.checkOK(t)
}
