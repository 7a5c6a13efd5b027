//go:build linux

package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// proofWorld is a server whose authorized_keys lists an ECDSA and an RSA
// key (proven with key proofs, PROTOCOL.md §1.4.1) but not the test
// client's certificate key.
type proofWorld struct {
	ts         *testServer
	ecdsa, rsa ssh.Signer
	stranger   ssh.Signer // a key of the same type, not authorized
	cert       *auth.Identity
}

func newProofWorld(t *testing.T) *proofWorld {
	t.Helper()
	w := &proofWorld{ts: startServer(t, Config{}), cert: newIdentity(t, "ephemeral")}
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	var err error
	if w.ecdsa, err = ssh.NewSignerFromKey(ek); err != nil {
		t.Fatal(err)
	}
	w.stranger, _ = ssh.NewSignerFromKey(sk)
	w.rsa, _ = ssh.NewSignerFromKey(rk)
	lines := string(ssh.MarshalAuthorizedKey(w.ecdsa.PublicKey())) + string(ssh.MarshalAuthorizedKey(w.rsa.PublicKey()))
	if err := os.WriteFile(w.ts.keysPath, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// open runs the handshake with the world's certificate and sends a hello
// offering keys; it returns the raw client and the server's first answer.
func (w *proofWorld) open(t *testing.T, user string, keys ...ssh.PublicKey) (*testClient, protocol.Message) {
	t.Helper()
	nc := w.ts.dialTCP(t)
	tc, err := tlsClient(nc, w.cert, w.ts.host.Public)
	if err != nil {
		t.Fatal(err)
	}
	c := &testClient{nc: nc, tc: tc, pc: protocol.NewConn(tc)}
	h := protocol.Hello{Version: protocol.Version, User: user}
	for _, k := range keys {
		h.Keys = append(h.Keys, k.Marshal())
	}
	if err := c.send(h); err != nil {
		t.Fatal(err)
	}
	m, err := c.recv()
	if err != nil {
		t.Fatalf("answer to hello: %v", err)
	}
	return c, m
}

// proof is the proof of key signer for connection tc as an honest client
// makes it.
func (w *proofWorld) proof(t *testing.T, tc *tls.Conn, signer ssh.Signer, offered ssh.PublicKey, user string) []byte {
	t.Helper()
	cs := tc.ConnectionState()
	exp, err := cs.ExportKeyingMaterial(auth.ExporterLabel, nil, auth.ExporterLen)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := auth.SignProof(signer, auth.ProofData(exp, w.ts.host.Public, w.cert.Public, offered.Marshal(), user))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// expectRefused reads the server's answer to a proof and wants the fatal
// unauthorized error, then the end of the connection.
func expectRefused(t *testing.T, c *testClient, why string) {
	t.Helper()
	m, err := c.recv()
	e, ok := m.(protocol.Error)
	if err != nil || !ok || e.Code != protocol.CodeUnauthorized {
		t.Fatalf("%s: answer %#v, %v; want error unauthorized", why, m, err)
	}
	if m, err := c.recv(); err == nil {
		t.Fatalf("%s: the connection goes on after the refusal: %#v", why, m)
	}
}

// TestKeyProof: an offered ECDSA or RSA key is authorized only with a
// valid proof made for this very connection; every forgery and replay is
// refused, and nothing runs.
func TestKeyProof(t *testing.T) {
	w := newProofWorld(t)
	user := currentUser()
	sentinel := filepath.Join(t.TempDir(), "ran")

	for _, signer := range []ssh.Signer{w.ecdsa, w.rsa} {
		t.Run("valid "+signer.PublicKey().Type(), func(t *testing.T) {
			c, m := w.open(t, user, w.stranger.PublicKey(), signer.PublicKey())
			defer c.close()
			ok, isOK := m.(protocol.KeyOK)
			if !isOK || string(ok.Key) != string(signer.PublicKey().Marshal()) {
				t.Fatalf("answer %#v; want key_ok naming the authorized key, not the stranger", m)
			}
			c.send(protocol.KeyProof{Signature: w.proof(t, c.tc, signer, signer.PublicKey(), user)})
			if m, err := c.recv(); err != nil || m.Type() != protocol.TypeHello {
				t.Fatalf("after a valid proof: %#v, %v; want the server's hello", m, err)
			}
			if r := c.mustRun(t, protocol.Exec{Command: "echo proven"}, ""); r.stdout != "proven\n" {
				t.Fatalf("run after the proof: %v", r)
			}
		})
	}

	t.Run("replayed from another connection", func(t *testing.T) {
		first, _ := w.open(t, user, w.ecdsa.PublicKey())
		stolen := w.proof(t, first.tc, w.ecdsa, w.ecdsa.PublicKey(), user)
		defer first.close()
		c, m := w.open(t, user, w.ecdsa.PublicKey())
		defer c.close()
		if m.Type() != protocol.TypeKeyOK {
			t.Fatalf("answer %#v", m)
		}
		c.send(protocol.KeyProof{Signature: stolen})
		expectRefused(t, c, "a proof made for another connection")
	})

	forgeries := []struct {
		name string
		sig  func(c *testClient) []byte
	}{
		{"signed by another key", func(c *testClient) []byte {
			return w.proof(t, c.tc, w.stranger, w.ecdsa.PublicKey(), user)
		}},
		{"for another account", func(c *testClient) []byte { return w.proof(t, c.tc, w.ecdsa, w.ecdsa.PublicKey(), "root2") }},
		{"over other data", func(c *testClient) []byte {
			sig, _ := auth.SignProof(w.ecdsa, []byte("rexec-key-proof-v1"))
			return sig
		}},
		{"an SSH signature of the exporter alone", func(c *testClient) []byte {
			cs := c.tc.ConnectionState()
			exp, _ := cs.ExportKeyingMaterial(auth.ExporterLabel, nil, auth.ExporterLen)
			sig, _ := auth.SignProof(w.ecdsa, exp)
			return sig
		}},
		{"garbage", func(*testClient) []byte { return []byte("\x00\x00\x00\x01x") }},
	}
	for _, f := range forgeries {
		t.Run(f.name, func(t *testing.T) {
			c, m := w.open(t, user, w.ecdsa.PublicKey())
			defer c.close()
			if m.Type() != protocol.TypeKeyOK {
				t.Fatalf("answer %#v", m)
			}
			c.send(protocol.KeyProof{Signature: f.sig(c)})
			expectRefused(t, c, f.name)
		})
	}

	t.Run("RSA with SHA-1", func(t *testing.T) {
		c, _ := w.open(t, user, w.rsa.PublicKey())
		defer c.close()
		cs := c.tc.ConnectionState()
		exp, _ := cs.ExportKeyingMaterial(auth.ExporterLabel, nil, auth.ExporterLen)
		data := auth.ProofData(exp, w.ts.host.Public, w.cert.Public, w.rsa.PublicKey().Marshal(), user)
		sig, err := w.rsa.(ssh.AlgorithmSigner).SignWithAlgorithm(rand.Reader, data, ssh.KeyAlgoRSA)
		if err != nil {
			t.Fatal(err)
		}
		c.send(protocol.KeyProof{Signature: ssh.Marshal(sig)})
		expectRefused(t, c, "an ssh-rsa (SHA-1) signature")
	})

	t.Run("a request instead of the proof", func(t *testing.T) {
		c, _ := w.open(t, user, w.ecdsa.PublicKey())
		defer c.close()
		c.send(protocol.Exec{Command: "touch " + sentinel})
		m, _ := c.recv()
		if e, ok := m.(protocol.Error); !ok || e.Code != protocol.CodeProtocol {
			t.Fatalf("answer %#v; want error protocol", m)
		}
	})

	t.Run("no offered key authorized", func(t *testing.T) {
		c, m := w.open(t, user, w.stranger.PublicKey())
		defer c.close()
		if e, ok := m.(protocol.Error); !ok || e.Code != protocol.CodeUnauthorized || !strings.Contains(e.Message, "none of the 2 keys") {
			t.Fatalf("answer %#v; want unauthorized, without key_ok", m)
		}
	})

	if _, err := os.Stat(sentinel); err == nil {
		t.Fatal("a request sent before the proof ran")
	}
}
