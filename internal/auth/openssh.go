package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/pem"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// The OpenSSH private key format, PROTOCOL.key in openssh-portable:
//
//	"openssh-key-v1\0" string ciphername, string kdfname, string kdfoptions,
//	uint32 nkeys, string pubkey, string private-section
//
// and, unencrypted, the private section is
//
//	uint32 check, uint32 check, string "ssh-ed25519", string pub,
//	string seed||pub, string comment, padding 1, 2, 3, ...
const (
	pemTypeOpenSSH = "OPENSSH PRIVATE KEY"
	opensshMagic   = "openssh-key-v1\x00"
)

// parseOpenSSHPrivateKey decodes an unencrypted OpenSSH ed25519 private
// key file, returning the key and its embedded comment.
func parseOpenSSHPrivateKey(data []byte) (ed25519.PrivateKey, string, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, "", fmt.Errorf("%w: no PEM block (want %q)", ErrMalformedKey, "-----BEGIN "+pemTypeOpenSSH+"-----")
	}
	if block.Type != pemTypeOpenSSH {
		return nil, "", fmt.Errorf("%w: PEM %q (rexec reads only OpenSSH-format ssh-ed25519 keys)", ErrUnsupportedKey, block.Type)
	}
	rest, ok := bytes.CutPrefix(block.Bytes, []byte(opensshMagic))
	if !ok {
		return nil, "", fmt.Errorf("%w: missing openssh-key-v1 magic", ErrMalformedKey)
	}
	var outer struct {
		CipherName, KdfName, KdfOpts string
		NumKeys                      uint32
		PubKey, PrivKeyBlock         []byte
	}
	if err := ssh.Unmarshal(rest, &outer); err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrMalformedKey, err)
	}
	if outer.NumKeys != 1 {
		return nil, "", fmt.Errorf("%w: %d keys in file, want 1", ErrMalformedKey, outer.NumKeys)
	}
	if err := checkOuter(outer.PubKey, outer.CipherName); err != nil {
		return nil, "", err
	}
	return parsePrivateSection(outer.PrivKeyBlock)
}

// checkOuter reports unsupported key types (named from the unencrypted
// public key) before encryption, so an encrypted RSA key says "RSA".
func checkOuter(pubBlob []byte, cipher string) error {
	typ, _, ok := readString(pubBlob)
	if !ok {
		return fmt.Errorf("%w: bad public key section", ErrMalformedKey)
	}
	if string(typ) != KeyTypeEd25519 {
		return fmt.Errorf("%w %q (rexec supports only %s)", ErrUnsupportedKey, printable(typ), KeyTypeEd25519)
	}
	if cipher != "none" {
		return fmt.Errorf("%w (cipher %s); rexec needs an unencrypted key: ssh-keygen -p -N '' -f FILE on a copy", ErrEncryptedKey, printable([]byte(cipher)))
	}
	return nil
}

// parsePrivateSection decodes the unencrypted private key list.
func parsePrivateSection(b []byte) (ed25519.PrivateKey, string, error) {
	var k struct {
		Check1, Check2 uint32
		KeyType        string
		Pub, Priv      []byte
		Comment        string
		Pad            []byte `ssh:"rest"`
	}
	if err := ssh.Unmarshal(b, &k); err != nil {
		return nil, "", fmt.Errorf("%w: private section: %w", ErrMalformedKey, err)
	}
	if k.Check1 != k.Check2 {
		return nil, "", fmt.Errorf("%w: check bytes differ", ErrMalformedKey)
	}
	if k.KeyType != KeyTypeEd25519 {
		return nil, "", fmt.Errorf("%w %q in private section", ErrUnsupportedKey, printable([]byte(k.KeyType)))
	}
	if len(k.Pub) != ed25519.PublicKeySize || len(k.Priv) != ed25519.PrivateKeySize {
		return nil, "", fmt.Errorf("%w: bad ed25519 key lengths", ErrMalformedKey)
	}
	if subtle.ConstantTimeCompare(k.Priv[ed25519.SeedSize:], k.Pub) != 1 {
		return nil, "", fmt.Errorf("%w: public key does not match private key", ErrMalformedKey)
	}
	// The seed is not expanded here: that is the process's first use of
	// the ed25519 base-point tables (~0.7 ms), which a resumed connection
	// never needs. Identity.Verify checks the seed before any signature.
	return ed25519.PrivateKey(bytes.Clone(k.Priv)), k.Comment, nil
}

// marshalOpenSSHPrivateKey encodes priv as an unencrypted OpenSSH private
// key file, the format `ssh-keygen -t ed25519 -N ”` writes.
func marshalOpenSSHPrivateKey(priv ed25519.PrivateKey, comment string) ([]byte, error) {
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, fmt.Errorf("auth: encoding private key: %w", err)
	}
	return pem.EncodeToMemory(block), nil
}
