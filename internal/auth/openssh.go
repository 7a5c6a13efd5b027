package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/pem"
	"fmt"
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
//
// padded to a multiple of the cipher's block size, 8 for "none".
const (
	pemTypeOpenSSH = "OPENSSH PRIVATE KEY"
	opensshMagic   = "openssh-key-v1\x00"
	// opensshNone is the cipher and KDF name of an unencrypted key.
	opensshNone = "none"
	// privateBlockSize is the block size of cipher "none", to which
	// ssh-keygen pads the private section and which it checks on reading.
	privateBlockSize = 8
)

// parseOpenSSHPrivateKey decodes an unencrypted OpenSSH ed25519 private
// key file, returning the key and its embedded comment. It accepts only
// what ssh-keygen writes: no PEM headers, one key, cipher and KDF "none",
// an embedded public key equal to the private one, check words equal and
// padding 1, 2, 3... to a multiple of 8.
func parseOpenSSHPrivateKey(data []byte) (ed25519.PrivateKey, string, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, "", fmt.Errorf("%w: no PEM block (want %q)", ErrMalformedKey, "-----BEGIN "+pemTypeOpenSSH+"-----")
	}
	if block.Type != pemTypeOpenSSH {
		return nil, "", fmt.Errorf("%w: PEM %q (rexec reads only OpenSSH-format ssh-ed25519 keys)", ErrUnsupportedKey, block.Type)
	}
	if len(block.Headers) != 0 {
		return nil, "", fmt.Errorf("%w: unexpected PEM headers", ErrMalformedKey)
	}
	rest, ok := bytes.CutPrefix(block.Bytes, []byte(opensshMagic))
	if !ok {
		return nil, "", fmt.Errorf("%w: missing openssh-key-v1 magic", ErrMalformedKey)
	}
	r := wireReader{b: rest}
	cipher, kdf, kdfOptions := r.string(), r.string(), r.string()
	nkeys := r.uint32()
	pubBlob, private := r.string(), r.string()
	if !r.done() {
		return nil, "", fmt.Errorf("%w: bad openssh-key-v1 structure", ErrMalformedKey)
	}
	if nkeys != 1 {
		return nil, "", fmt.Errorf("%w: %d keys in file, want 1", ErrMalformedKey, nkeys)
	}
	if err := checkOuter(pubBlob, cipher, kdf, kdfOptions); err != nil {
		return nil, "", err
	}
	priv, comment, err := parsePrivateSection(private)
	if err != nil {
		return nil, "", err
	}
	if !bytes.Equal(pubBlob, marshalPublicKey(ed25519.PublicKey(priv[ed25519.SeedSize:]))) {
		return nil, "", fmt.Errorf("%w: embedded public key does not match private key", ErrMalformedKey)
	}
	return priv, comment, nil
}

// checkOuter reports unsupported key types (named from the unencrypted
// public key) before encryption, so an encrypted RSA key says "RSA".
func checkOuter(pubBlob, cipher, kdf, kdfOptions []byte) error {
	typ, _, ok := readString(pubBlob)
	if !ok {
		return fmt.Errorf("%w: bad public key section", ErrMalformedKey)
	}
	if string(typ) != KeyTypeEd25519 {
		return fmt.Errorf("%w %q (rexec supports only %s)", ErrUnsupportedKey, printable(typ), KeyTypeEd25519)
	}
	if string(cipher) != opensshNone {
		return fmt.Errorf("%w (cipher %s); rexec needs an unencrypted key: ssh-keygen -p -N '' -f FILE on a copy", ErrEncryptedKey, printable(cipher))
	}
	if string(kdf) != opensshNone || len(kdfOptions) != 0 {
		return fmt.Errorf("%w: KDF %q with cipher none", ErrMalformedKey, printable(kdf))
	}
	return nil
}

// parsePrivateSection decodes the unencrypted private key list.
func parsePrivateSection(b []byte) (ed25519.PrivateKey, string, error) {
	r := wireReader{b: b}
	check1, check2 := r.uint32(), r.uint32()
	keyType := r.string()
	if !r.ok() {
		return nil, "", fmt.Errorf("%w: private section truncated", ErrMalformedKey)
	}
	if check1 != check2 {
		return nil, "", fmt.Errorf("%w: check bytes differ", ErrMalformedKey)
	}
	if string(keyType) != KeyTypeEd25519 {
		return nil, "", fmt.Errorf("%w %q in private section", ErrUnsupportedKey, printable(keyType))
	}
	pub, priv, comment := r.string(), r.string(), r.string()
	pad := r.rest()
	if !r.ok() {
		return nil, "", fmt.Errorf("%w: private section truncated", ErrMalformedKey)
	}
	if len(pub) != ed25519.PublicKeySize || len(priv) != ed25519.PrivateKeySize {
		return nil, "", fmt.Errorf("%w: bad ed25519 key lengths", ErrMalformedKey)
	}
	if subtle.ConstantTimeCompare(priv[ed25519.SeedSize:], pub) != 1 {
		return nil, "", fmt.Errorf("%w: public key does not match private key", ErrMalformedKey)
	}
	if !validPadding(pad) || len(b)%privateBlockSize != 0 {
		return nil, "", fmt.Errorf("%w: bad padding in private section", ErrMalformedKey)
	}
	// The seed is not expanded here: that is the process's first use of
	// the ed25519 base-point tables, costly to build and never needed by
	// a resumed connection (docs/BENCHMARKS.md). Identity.Verify checks the seed before any signature.
	return ed25519.PrivateKey(bytes.Clone(priv)), string(comment), nil
}

// validPadding reports whether pad is 1, 2, 3, ... as PROTOCOL.key
// requires.
func validPadding(pad []byte) bool {
	for i, c := range pad {
		if int(c) != i+1 {
			return false
		}
	}
	return true
}

// marshalOpenSSHPrivateKey encodes priv as an unencrypted OpenSSH private
// key file, byte for byte the format `ssh-keygen -t ed25519 -N ”`
// writes (only the random check words differ from file to file).
func marshalOpenSSHPrivateKey(priv ed25519.PrivateKey, comment string) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("auth: encoding private key: %w: ed25519 private key of %d bytes", ErrMalformedKey, len(priv))
	}
	pub := ed25519.PublicKey(priv[ed25519.SeedSize:])
	var check [4]byte
	rand.Read(check[:]) // never fails: crypto/rand.Read has no error to return since Go 1.24
	sec := make([]byte, 0, 256)
	sec = append(sec, check[:]...) // check words: two equal random uint32s
	sec = append(sec, check[:]...)
	sec = appendString(sec, []byte(KeyTypeEd25519))
	sec = appendString(sec, pub)
	sec = appendString(sec, priv)
	sec = appendString(sec, []byte(comment))
	for i := byte(1); len(sec)%privateBlockSize != 0; i++ {
		sec = append(sec, i)
	}
	b := []byte(opensshMagic)
	b = appendString(b, []byte(opensshNone))
	b = appendString(b, []byte(opensshNone))
	b = appendString(b, nil)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = appendString(b, marshalPublicKey(pub))
	b = appendString(b, sec)
	return pem.EncodeToMemory(&pem.Block{Type: pemTypeOpenSSH, Bytes: b}), nil
}
