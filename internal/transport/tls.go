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
// the completed handshake before doing anything on the client's behalf.
// Session tickets (resumption) are disabled, so every connection proves
// possession of both keys. ALPN "rexec/1" is required (a
// VerifyConnection hook fails the handshake without it).
func ServerConfig(host *auth.Identity) (*tls.Config, error) {
	cert, err := SelfSignedCert(host)
	if err != nil {
		return nil, err
	}
	cfg := baseConfig(cert)
	cfg.ClientAuth = tls.RequireAnyClientCert
	cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		_, err := keyFromRaw(raw)
		return err
	}
	return cfg, nil
}

// ClientConfig returns a TLS 1.3-only client configuration presenting the
// user identity's certificate. Certificate-chain and name verification
// are off (InsecureSkipVerify); instead the server's ed25519 key is passed
// to verify during the handshake, and a non-nil result aborts the
// handshake and is returned unchanged (wrapped at most) by Handshake, so
// errors.As finds e.g. *auth.UnknownHostError. verify must not be nil.
// No session cache: every connection runs a full handshake and verify.
func ClientConfig(user *auth.Identity, verify func(ed25519.PublicKey) error) (*tls.Config, error) {
	if verify == nil {
		return nil, errors.New("transport: ClientConfig needs a verify function")
	}
	cert, err := SelfSignedCert(user)
	if err != nil {
		return nil, err
	}
	cfg := baseConfig(cert)
	cfg.InsecureSkipVerify = true
	cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		key, err := keyFromRaw(raw)
		if err != nil {
			return err
		}
		return verify(key)
	}
	return cfg, nil
}

// baseConfig holds what client and server share.
func baseConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		MaxVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{cert},
		NextProtos:             []string{ALPN},
		SessionTicketsDisabled: true,
		VerifyConnection:       requireALPN,
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
