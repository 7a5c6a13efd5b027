package transport

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
)

// ALPN is the application protocol both ends negotiate; a peer that does
// not offer it fails the handshake.
const ALPN = "rexec/1"

// certValidity is the lifetime written into self-signed certificates.
// Peers never check it (only the pinned key counts); it is long so that
// no tool that does look ever sees an expired certificate.
const certValidity = 100 * 365 * 24 * time.Hour

// Errors describing an unacceptable peer certificate.
var (
	// ErrPeerCert: the peer sent no certificate, several, or one that
	// does not parse.
	ErrPeerCert = errors.New("transport: peer must present exactly one certificate")
	// ErrPeerKeyType: the peer's certificate key is not ed25519.
	ErrPeerKeyType = errors.New("transport: peer certificate key is not ed25519")
	// ErrPeerProtocol: the peer did not negotiate ALPN "rexec/1".
	ErrPeerProtocol = errors.New("transport: peer does not speak rexec/1")
)

// SelfSignedCert makes a self-signed certificate for the identity's
// ed25519 key, valid from a day ago for 100 years, usable for both server
// and client authentication. The subject names the key's fingerprint.
func SelfSignedCert(id *auth.Identity) (tls.Certificate, error) {
	if id == nil || len(id.Private) != ed25519.PrivateKeySize {
		return tls.Certificate{}, errors.New("transport: identity has no ed25519 private key")
	}
	if err := id.Verify(); err != nil {
		return tls.Certificate{}, fmt.Errorf("transport: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("transport: certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "rexec " + auth.Fingerprint(id.Public)},
		NotBefore:    now.Add(-24 * time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, id.Public, id.Private)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("transport: creating certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("transport: parsing own certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: id.Private, Leaf: leaf}, nil
}

// ServerConfig returns a TLS 1.3-only server configuration presenting the
// host identity's certificate. It requires a client certificate and
// accepts any single ed25519 one: the caller must authorize PeerKey of
// the completed handshake before doing anything on the client's behalf,
// on every connection, resumed ones included (PeerKey then returns the
// key proven in the full handshake the ticket came from).
//
// Session tickets are issued (PROTOCOL.md §1.2): a client that resumes
// skips both signatures, which is most of the handshake's CPU. The ticket
// keys are crypto/tls's own, random per Config and never stored, so a
// daemon restart invalidates every ticket; set SessionTicketsDisabled on
// the result to force a full handshake on every connection. ALPN
// "rexec/1" is required (a VerifyConnection hook fails the handshake
// without it).
func ServerConfig(host *auth.Identity) (*tls.Config, error) {
	cert, err := SelfSignedCert(host)
	if err != nil {
		return nil, err
	}
	cfg := baseConfig()
	cfg.Certificates = []tls.Certificate{cert}
	cfg.ClientAuth = tls.RequireAnyClientCert
	cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		_, err := keyFromRaw(raw)
		return err
	}
	return cfg, nil
}

// ClientConfig returns a TLS 1.3-only client configuration for the user
// identity. Certificate-chain and name verification are off
// (InsecureSkipVerify); instead the server's ed25519 key is passed to
// verify, from a VerifyConnection hook, so that it runs on resumed
// connections too (crypto/tls skips VerifyPeerCertificate there). In a
// full handshake the hook runs before the client sends its certificate,
// so a refused server never sees it. A non-nil result of verify aborts
// the handshake and is returned unchanged (wrapped at most) by Handshake,
// so errors.As finds e.g. *auth.UnknownHostError. verify must not be nil.
//
// The client certificate is made (and the key used) only when the server
// asks for it, i.e. only in a full handshake: a resumed connection signs
// nothing. Resumption needs a ClientSessionCache, which the caller sets
// (with SessionTicketsDisabled false); the zero value has none, so every
// connection is a full handshake.
func ClientConfig(user *auth.Identity, verify func(ed25519.PublicKey) error) (*tls.Config, error) {
	if verify == nil {
		return nil, errors.New("transport: ClientConfig needs a verify function")
	}
	if user == nil || len(user.Private) != ed25519.PrivateKeySize {
		return nil, errors.New("transport: identity has no ed25519 private key")
	}
	cfg := baseConfig()
	cfg.SessionTicketsDisabled = true
	cfg.InsecureSkipVerify = true
	var (
		once sync.Once
		cert tls.Certificate
		cerr error
	)
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		once.Do(func() { cert, cerr = SelfSignedCert(user) })
		return &cert, cerr
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if err := requireALPN(cs); err != nil {
			return err
		}
		if len(cs.PeerCertificates) != 1 {
			return fmt.Errorf("%w (got %d)", ErrPeerCert, len(cs.PeerCertificates))
		}
		key, err := certKey(cs.PeerCertificates[0])
		if err != nil {
			return err
		}
		return verify(key)
	}
	return cfg, nil
}

// ResumeCurves is the key exchange a client offers when it resumes a
// session: X25519 alone, without crypto/tls's default X25519MLKEM768.
//
// A resumed connection's keys come from the ticket's pre-shared key and a
// fresh X25519 exchange together (psk_dhe_ke), and that key was derived in
// the full handshake, whose ML-KEM share already protects it against a
// future quantum attacker recording today's traffic. Skipping ML-KEM there
// saves a noticeable part of a one-shot `rexec run`'s CPU
// (docs/BENCHMARKS.md).
// A handshake that offered this and was not resumed is a full handshake
// without ML-KEM, so the client discards it and connects again with the
// defaults (internal/client).
var ResumeCurves = []tls.CurveID{tls.X25519}

// baseConfig holds what client and server share.
func baseConfig() *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		MaxVersion:       tls.VersionTLS13,
		NextProtos:       []string{ALPN},
		VerifyConnection: requireALPN,
	}
}

// requireALPN fails a handshake in which "rexec/1" was not negotiated
// (crypto/tls lets a peer that offers no ALPN at all through).
func requireALPN(cs tls.ConnectionState) error {
	if cs.NegotiatedProtocol != ALPN {
		return fmt.Errorf("%w: peer did not negotiate %q", ErrPeerProtocol, ALPN)
	}
	return nil
}

// PeerKey returns the peer's ed25519 public key from a completed
// handshake, or an error wrapping ErrPeerCert or ErrPeerKeyType.
func PeerKey(cs tls.ConnectionState) (ed25519.PublicKey, error) {
	if !cs.HandshakeComplete {
		return nil, errors.New("transport: handshake not complete")
	}
	if len(cs.PeerCertificates) != 1 {
		return nil, fmt.Errorf("%w (got %d)", ErrPeerCert, len(cs.PeerCertificates))
	}
	return certKey(cs.PeerCertificates[0])
}

// keyFromRaw checks the raw certificate list of a handshake.
func keyFromRaw(raw [][]byte) (ed25519.PublicKey, error) {
	if len(raw) != 1 {
		return nil, fmt.Errorf("%w (got %d)", ErrPeerCert, len(raw))
	}
	cert, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPeerCert, err)
	}
	return certKey(cert)
}

// certKey extracts the ed25519 key of a certificate.
func certKey(cert *x509.Certificate) (ed25519.PublicKey, error) {
	key, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok || len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w (%T)", ErrPeerKeyType, cert.PublicKey)
	}
	return key, nil
}
