package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Keys as ssh users have them (docs/PROTOCOL.md §1.4.1, docs/SECURITY.md
// "Keys from ssh-agent, passphrases, RSA and ECDSA"): OpenSSH private key
// files of the types below, with or without a passphrase, and the keys of
// ssh-agent. Such a key is not the TLS certificate's key: the client
// offers it in its hello and proves possession with a key proof, an SSH
// signature over the connection's TLS exporter (ProofData), which the
// server verifies (VerifyProof) before it authorizes the key. Formats,
// passphrases, signatures and the agent protocol are
// golang.org/x/crypto/ssh's.

// MinRSABits is the smallest RSA modulus rexec accepts, in key files,
// authorized_keys and proofs: 1024-bit RSA is within reach of a
// well-funded attacker, and ssh-keygen has made 3072-bit keys by default
// for years.
const MinRSABits = 2048

// offerable are the key types a client may offer and a server authorize
// besides the certificate's own ssh-ed25519.
var offerable = map[string]bool{
	ssh.KeyAlgoED25519: true, ssh.KeyAlgoECDSA256: true, ssh.KeyAlgoECDSA384: true,
	ssh.KeyAlgoECDSA521: true, ssh.KeyAlgoRSA: true,
}

// proofFormats are the signature formats a proof may use for each key
// type: the key's own, and for RSA the SHA-2 ones only (never ssh-rsa's
// SHA-1).
var proofFormats = map[string][]string{
	ssh.KeyAlgoED25519:  {ssh.KeyAlgoED25519},
	ssh.KeyAlgoECDSA256: {ssh.KeyAlgoECDSA256},
	ssh.KeyAlgoECDSA384: {ssh.KeyAlgoECDSA384},
	ssh.KeyAlgoECDSA521: {ssh.KeyAlgoECDSA521},
	ssh.KeyAlgoRSA:      {ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA512},
}

// ParseOfferedKey parses the SSH wire encoding of a key a client offers
// (hello.keys): ssh-ed25519, the NIST ECDSA curves, or ssh-rsa of at
// least MinRSABits. Certificates, security keys and DSA are refused.
func ParseOfferedKey(blob []byte) (ssh.PublicKey, error) {
	pub, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedKey, err)
	}
	if err := checkKeyType(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// checkKeyType refuses the key types rexec does not use and short RSA.
func checkKeyType(pub ssh.PublicKey) error {
	if !offerable[pub.Type()] {
		return fmt.Errorf("%w %q (rexec uses ssh-ed25519, ecdsa-sha2-nistp256/384/521 and ssh-rsa)", ErrUnsupportedKey, printable([]byte(pub.Type())))
	}
	if ck, ok := pub.(ssh.CryptoPublicKey); ok {
		if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok && rk.N.BitLen() < MinRSABits {
			return fmt.Errorf("%w: RSA key of %d bits (rexec needs at least %d)", ErrUnsupportedKey, rk.N.BitLen(), MinRSABits)
		}
	}
	return nil
}

// proofMagic starts the signed data of every key proof, so that a proof
// can never be mistaken for a signature made for another purpose (an SSH
// user authentication, an sshsig file signature).
const proofMagic = "rexec-key-proof-v1"

// ExporterLabel is the TLS exporter label (RFC 8446 §7.5) whose 32 bytes
// a key proof signs: they are unique to one TLS connection and known only
// to its two ends, so a proof made for one connection is worthless on any
// other.
const ExporterLabel = "EXPORTER-rexec-key-proof"

// ExporterLen is how many exporter bytes a proof signs.
const ExporterLen = 32

// ProofData is what a key proof signs (docs/PROTOCOL.md §1.4.1): the
// magic, the connection's exporter bytes, the server's host key, the
// client certificate's key, the offered key and the account asked for,
// each as an SSH string.
func ProofData(exporter []byte, hostKey, certKey ed25519.PublicKey, offered []byte, user string) []byte {
	b := appendString(nil, []byte(proofMagic))
	b = appendString(b, exporter)
	b = appendString(b, marshalPublicKey(hostKey))
	b = appendString(b, marshalPublicKey(certKey))
	b = appendString(b, offered)
	return appendString(b, []byte(user))
}

// maxSignatureBlob bounds a proof's signature: an RSA signature of the
// largest key x/crypto/ssh accepts (16,384 bits) is 2 KiB.
const maxSignatureBlob = 4 << 10

// VerifyProof checks a key proof: sig is the SSH encoding of a signature
// (string format, string blob) by pub over data, in a format allowed for
// pub's type.
func VerifyProof(pub ssh.PublicKey, data, sig []byte) error {
	if len(sig) > maxSignatureBlob {
		return errors.New("key proof: signature too long")
	}
	r := wireReader{b: sig}
	format, blob := r.string(), r.string()
	if !r.done() {
		return errors.New("key proof: malformed signature")
	}
	allowed := false
	for _, f := range proofFormats[pub.Type()] {
		allowed = allowed || f == string(format)
	}
	if !allowed {
		return fmt.Errorf("key proof: signature format %q not accepted for a %s key", printable(format), pub.Type())
	}
	if err := pub.Verify(data, &ssh.Signature{Format: string(format), Blob: blob}); err != nil {
		return fmt.Errorf("key proof: bad signature: %w", err)
	}
	return nil
}

// SignProof signs data with signer as a key proof: RSA keys with
// rsa-sha2-256, every other type in its own format. The result is the
// SSH encoding of the signature.
func SignProof(signer ssh.Signer, data []byte) ([]byte, error) {
	var sig *ssh.Signature
	var err error
	if signer.PublicKey().Type() == ssh.KeyAlgoRSA {
		as, ok := signer.(ssh.AlgorithmSigner)
		if !ok {
			return nil, errors.New("key proof: this RSA signer cannot make rsa-sha2-256 signatures")
		}
		sig, err = as.SignWithAlgorithm(rand.Reader, data, ssh.KeyAlgoRSASHA256)
	} else {
		sig, err = signer.Sign(rand.Reader, data)
	}
	if err != nil {
		return nil, fmt.Errorf("key proof: signing: %w", err)
	}
	return appendString(appendString(nil, []byte(sig.Format)), sig.Blob), nil
}

// KeyFile is an OpenSSH private key file read without its passphrase:
// its public key (from the file's unencrypted public part, or the .pub
// beside it) and, unless the file is encrypted, its signer.
type KeyFile struct {
	Path   string
	Public ssh.PublicKey
	// Signer is nil when the file is encrypted: Decrypt makes it.
	Signer ssh.Signer
	data   []byte
}

// ReadKeyFile reads a private key file for its public key, checking its
// permissions as ssh does (ErrKeyPermissions). An encrypted file is not
// an error: its Signer is nil and its Public comes from the file's
// public part or path.pub. A key of a type rexec does not use wraps
// ErrUnsupportedKey.
func ReadKeyFile(path string) (*KeyFile, error) {
	data, err := readPrivateKeyFile(path)
	if err != nil {
		return nil, err
	}
	kf := &KeyFile{Path: path, data: data}
	signer, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		kf.Public = missing.PublicKey
		if kf.Public == nil {
			kf.Public, err = readPub(path + ".pub")
			if err != nil {
				return nil, fmt.Errorf("%w (in %s): encrypted in a format without its public key, and %s.pub: %w", ErrEncryptedKey, path, path, err)
			}
		}
	case err != nil:
		return nil, fmt.Errorf("%w (in %s): %w", ErrMalformedKey, path, err)
	default:
		kf.Signer, kf.Public = signer, signer.PublicKey()
	}
	if err := checkKeyType(kf.Public); err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return kf, nil
}

// readPub reads the key of a .pub file.
func readPub(path string) (ssh.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) > maxPublicKeyLine {
		return nil, fmt.Errorf("%w: %s is longer than %d bytes", ErrMalformedKey, path, maxPublicKeyLine)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformedKey, path, err)
	}
	return pub, nil
}

// ReadPublicKeyFile reads a .pub file (ssh's -i key.pub names the agent
// key to use).
func ReadPublicKeyFile(path string) (ssh.PublicKey, error) { return readPub(path) }

// ErrBadPassphrase is a passphrase that does not decrypt the key.
var ErrBadPassphrase = errors.New("auth: incorrect passphrase")

// Decrypt makes the signer of an encrypted key file with passphrase.
func (kf *KeyFile) Decrypt(passphrase []byte) (ssh.Signer, error) {
	if kf.Signer != nil {
		return kf.Signer, nil
	}
	s, err := ssh.ParsePrivateKeyWithPassphrase(kf.data, passphrase)
	if errors.Is(err, x509.IncorrectPasswordError) {
		return nil, fmt.Errorf("%w for %s", ErrBadPassphrase, kf.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w (in %s): %w", ErrMalformedKey, kf.Path, err)
	}
	if !equalKeys(s.PublicKey(), kf.Public) {
		return nil, fmt.Errorf("%w (in %s): the private key does not match its public key", ErrMalformedKey, kf.Path)
	}
	return s, nil
}

// Encrypted reports whether the file needs a passphrase.
func (kf *KeyFile) Encrypted() bool { return kf.Signer == nil }

// Ed25519 returns the file's key as an Identity when it is an unencrypted
// ed25519 key, the one kind that is its own TLS certificate key.
func (kf *KeyFile) Ed25519() (*Identity, bool) {
	if kf.Signer == nil || kf.Public.Type() != ssh.KeyAlgoED25519 {
		return nil, false
	}
	id, err := LoadIdentity(kf.Path)
	return id, err == nil
}

// equalKeys compares two public keys by their wire encoding.
func equalKeys(a, b ssh.PublicKey) bool {
	return a != nil && b != nil && string(a.Marshal()) == string(b.Marshal())
}

// AgentKeys connects to the ssh-agent at socket (SSH_AUTH_SOCK) and
// returns its keys of the types rexec uses, as signers that sign inside
// the agent (the private keys never leave it), and a function that closes
// the connection. Each signature is one request to the agent.
func AgentKeys(socket string) ([]ssh.Signer, func() error, error) {
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: connecting to ssh-agent: %w", err)
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("auth: listing ssh-agent keys: %w", err)
	}
	var out []ssh.Signer
	for _, s := range signers {
		if checkKeyType(s.PublicKey()) == nil {
			out = append(out, s)
		}
	}
	return out, conn.Close, nil
}

// PublicKeyBlob is the SSH wire encoding of an ed25519 public key.
func PublicKeyBlob(pub ed25519.PublicKey) []byte { return marshalPublicKey(pub) }

// FingerprintBlob is the SHA256 fingerprint of any key's wire encoding,
// as ssh-keygen -l prints it.
func FingerprintBlob(blob []byte) string { return fingerprintBlob(blob) }

// SSHFingerprint is the fingerprint of an x/crypto/ssh public key.
func SSHFingerprint(pub ssh.PublicKey) string { return fingerprintBlob(pub.Marshal()) }
