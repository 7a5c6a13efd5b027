package transport

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/cpu"

	"github.com/rexec-dev/rexec/internal/auth"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// handshakeTimeout bounds every test handshake so a bug fails, not hangs.
const handshakeTimeout = 10 * time.Second

// result is one side's view of a handshake.
type result struct {
	err   error
	state tls.ConnectionState
}

// handshake runs one TLS handshake between srv and cli over a real
// loopback TCP connection and returns both sides' results.
func handshake(t *testing.T, srv, cli *tls.Config) (server, client result) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		server = accept(ln, srv)
	}()
	client = dial(ln.Addr().String(), cli)
	wg.Wait()
	return server, client
}

// accept serves one handshake on ln.
func accept(ln net.Listener, cfg *tls.Config) result {
	c, err := ln.Accept()
	if err != nil {
		return result{err: err}
	}
	defer c.Close()
	return run(tls.Server(c, cfg))
}

// dial runs one client handshake to addr.
func dial(addr string, cfg *tls.Config) result {
	c, err := net.DialTimeout("tcp", addr, handshakeTimeout)
	if err != nil {
		return result{err: err}
	}
	defer c.Close()
	return run(tls.Client(c, cfg))
}

// run completes the handshake and exchanges one byte each way, so that
// a server-side rejection of the client certificate (which TLS 1.3
// reports after the client thinks it is done) reaches the client.
func run(tc *tls.Conn) result {
	tc.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.Handshake(); err != nil {
		return result{err: err}
	}
	var err error
	if _, err = tc.Write([]byte{1}); err == nil {
		_, err = tc.Read(make([]byte, 1))
	}
	return result{err: err, state: tc.ConnectionState()}
}

func mustIdentity(t *testing.T, comment string) *auth.Identity {
	t.Helper()
	id, err := auth.GenerateIdentity(comment)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustConfigs(t *testing.T, host, user *auth.Identity, verify func(ed25519.PublicKey) error) (srv, cli *tls.Config) {
	t.Helper()
	srv, err := ServerConfig(host)
	if err != nil {
		t.Fatal(err)
	}
	cli, err = ClientConfig(user, verify)
	if err != nil {
		t.Fatal(err)
	}
	return srv, cli
}

func TestHandshakePinnedKeys(t *testing.T) {
	host, user := mustIdentity(t, "host"), mustIdentity(t, "user")
	kh := auth.KnownHosts{Path: filepath.Join(t.TempDir(), "known_hosts")}
	if err := kh.Add([]string{"127.0.0.1:7022"}, host.Public); err != nil {
		t.Fatal(err)
	}
	srv, cli := mustConfigs(t, host, user, func(k ed25519.PublicKey) error { return kh.Check("127.0.0.1", 7022, k) })
	server, client := handshake(t, srv, cli)
	if server.err != nil || client.err != nil {
		t.Fatalf("handshake: server %v, client %v", server.err, client.err)
	}
	for side, st := range map[string]tls.ConnectionState{"server": server.state, "client": client.state} {
		if st.Version != tls.VersionTLS13 || st.NegotiatedProtocol != ALPN || st.DidResume {
			t.Errorf("%s: version %x, ALPN %q, resumed %v; want TLS 1.3, %q, fresh", side, st.Version, st.NegotiatedProtocol, st.DidResume, ALPN)
		}
	}
	if got, err := PeerKey(server.state); err != nil || !got.Equal(user.Public) {
		t.Errorf("server PeerKey = %x, %v; want the user key", got, err)
	}
	if got, err := PeerKey(client.state); err != nil || !got.Equal(host.Public) {
		t.Errorf("client PeerKey = %x, %v; want the host key", got, err)
	}
	suite := tls.CipherSuiteName(client.state.CipherSuite)
	t.Logf("TLS 1.3 cipher suite: %s (AES-NI %v, PCLMULQDQ %v)", suite, cpu.X86.HasAES, cpu.X86.HasPCLMULQDQ)
	if cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ && client.state.CipherSuite != tls.TLS_AES_128_GCM_SHA256 {
		t.Errorf("cipher suite = %s, want TLS_AES_128_GCM_SHA256 on AES-NI hardware", suite)
	}
}

func TestClientVerifyErrorSurvives(t *testing.T) {
	host, user, other := mustIdentity(t, "host"), mustIdentity(t, "user"), mustIdentity(t, "other")
	kh := auth.KnownHosts{Path: filepath.Join(t.TempDir(), "known_hosts")}
	tests := []struct {
		name  string
		setup func()
		check func(error) bool
	}{
		{"unknown", func() {}, func(err error) bool {
			var e *auth.UnknownHostError
			return errors.As(err, &e) && e.Got == auth.Fingerprint(host.Public) && e.Host == "127.0.0.1:7022"
		}},
		{"changed", func() { kh.Add([]string{"127.0.0.1:7022"}, other.Public) }, func(err error) bool {
			var e *auth.HostKeyChangedError
			return errors.As(err, &e) && e.Want[0] == auth.Fingerprint(other.Public)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup()
			srv, cli := mustConfigs(t, host, user, func(k ed25519.PublicKey) error { return kh.Check("127.0.0.1", 7022, k) })
			server, client := handshake(t, srv, cli)
			t.Logf("client error: %v", client.err)
			if !tt.check(client.err) {
				t.Errorf("client handshake error = %#v, want the verify error via errors.As", client.err)
			}
			if server.err == nil {
				t.Errorf("server handshake succeeded, want the client's alert")
			}
		})
	}
}

func TestServerRejectsBadClients(t *testing.T) {
	host, user := mustIdentity(t, "host"), mustIdentity(t, "user")
	accept := func(ed25519.PublicKey) error { return nil }
	tests := []struct {
		name    string
		mutate  func(c *tls.Config)
		wantErr error // on the server side; nil = any error
	}{
		{"no certificate", func(c *tls.Config) { c.GetClientCertificate = sendCert(tls.Certificate{}) }, nil},
		{"ecdsa certificate", func(c *tls.Config) { c.GetClientCertificate = sendCert(ecdsaCert(t)) }, ErrPeerKeyType},
		{"no ALPN", func(c *tls.Config) { c.NextProtos = nil; c.VerifyConnection = nil }, ErrPeerProtocol},
		{"TLS 1.2", func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12 }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, cli := mustConfigs(t, host, user, accept)
			tt.mutate(cli)
			server, client := handshake(t, srv, cli)
			if server.err == nil || client.err == nil {
				t.Fatalf("handshake: server %v, client %v; want both to fail", server.err, client.err)
			}
			if tt.wantErr != nil && !errors.Is(server.err, tt.wantErr) {
				t.Errorf("server error = %v, want %v", server.err, tt.wantErr)
			}
		})
	}
}

func TestClientRejectsBadServers(t *testing.T) {
	host, user := mustIdentity(t, "host"), mustIdentity(t, "user")
	called := false
	srv, cli := mustConfigs(t, host, user, func(ed25519.PublicKey) error { called = true; return nil })
	srv.Certificates = []tls.Certificate{ecdsaCert(t)}
	server, client := handshake(t, srv, cli)
	if !errors.Is(client.err, ErrPeerKeyType) || server.err == nil || called {
		t.Errorf("handshake with ecdsa server: client %v, server %v, verify called %v; want ErrPeerKeyType, verify not called", client.err, server.err, called)
	}
}

// sendCert makes a GetClientCertificate hook that presents cert.
func sendCert(cert tls.Certificate) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
}

// ecdsaCert makes a self-signed P-256 certificate, a key type rexec refuses.
func ecdsaCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestSelfSignedCert(t *testing.T) {
	id := mustIdentity(t, "x")
	cert, err := SelfSignedCert(id)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if key, ok := leaf.PublicKey.(ed25519.PublicKey); !ok || !key.Equal(id.Public) {
		t.Errorf("certificate key = %T %v, want the identity's key", leaf.PublicKey, leaf.PublicKey)
	}
	if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
		t.Errorf("certificate not self-signed: %v", err)
	}
	if life := time.Until(leaf.NotAfter); life < 99*365*24*time.Hour {
		t.Errorf("certificate valid for %v, want ~100 years", life)
	}
	for _, bad := range []*auth.Identity{nil, {}} {
		if _, err := SelfSignedCert(bad); err == nil {
			t.Errorf("SelfSignedCert(%v) = nil error", bad)
		}
	}
	if _, err := ClientConfig(id, nil); err == nil {
		t.Errorf("ClientConfig(nil verify) = nil error")
	}
}

func TestPeerKeyErrors(t *testing.T) {
	ecdsaLeaf, _ := x509.ParseCertificate(ecdsaCert(t).Certificate[0])
	tests := []struct {
		name string
		cs   tls.ConnectionState
		want error
	}{
		{"incomplete", tls.ConnectionState{}, nil},
		{"no certs", tls.ConnectionState{HandshakeComplete: true}, ErrPeerCert},
		{"ecdsa", tls.ConnectionState{HandshakeComplete: true, PeerCertificates: []*x509.Certificate{ecdsaLeaf}}, ErrPeerKeyType},
	}
	for _, tt := range tests {
		_, err := PeerKey(tt.cs)
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("PeerKey(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}
}
