package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// maxKeyFileSize bounds what LoadIdentity reads; an OpenSSH ed25519 key
// file is about 400 bytes, so anything near this is not a key.
const maxKeyFileSize = 64 << 10

// Identity is an ed25519 key pair with the comment shown next to its
// public key (conventionally user@host). Public is always
// Private.Public(). An Identity is immutable once made; share it freely.
type Identity struct {
	Private ed25519.PrivateKey
	Public  ed25519.PublicKey
	Comment string
}

// Verify checks that the private seed yields the public key. LoadIdentity
// checks only that the key file is consistent with itself and leaves this
// to the first signature (transport.SelfSignedCert calls it), because it
// costs the ed25519 table set-up that a resumed connection never needs.
// A file whose seed was altered would otherwise sign with a key that does
// not match its certificate, and the peer would report only a bad
// signature.
func (id *Identity) Verify() error {
	if len(id.Private) != ed25519.PrivateKeySize || len(id.Public) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: bad ed25519 key lengths", ErrMalformedKey)
	}
	derived := ed25519.NewKeyFromSeed(id.Private.Seed()).Public().(ed25519.PublicKey)
	if !derived.Equal(id.Public) || !bytes.Equal(id.Private[ed25519.SeedSize:], id.Public) {
		return fmt.Errorf("%w: public key does not match private key", ErrMalformedKey)
	}
	return nil
}

// GenerateIdentity makes a new random identity with the given comment.
func GenerateIdentity(comment string) (*Identity, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("auth: generating ed25519 key: %w", err)
	}
	return &Identity{Private: priv, Public: pub, Comment: comment}, nil
}

// LoadIdentity reads an unencrypted OpenSSH-format ed25519 private key,
// as written by `ssh-keygen -t ed25519 -N ”` or WriteFiles.
//
// Errors: ErrKeyPermissions if the file is accessible by group or others
// or owned by another user (checked on the open file, before reading);
// ErrEncryptedKey for a passphrase-protected key; ErrUnsupportedKey,
// naming the type, for any other key type; ErrMalformedKey for garbage; a
// wrapped fs.ErrNotExist if the file is missing.
//
// The comment comes from path+".pub" when that file exists and holds the
// same public key, else from the comment embedded in the private key.
func LoadIdentity(path string) (*Identity, error) {
	data, err := readPrivateKeyFile(path)
	if err != nil {
		return nil, err
	}
	priv, comment, err := parseOpenSSHPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	id := &Identity{Private: priv, Public: ed25519.PublicKey(bytes.Clone(priv[ed25519.SeedSize:])), Comment: comment}
	if pubData, err := os.ReadFile(path + ".pub"); err == nil {
		if pub, c, err := ParsePublicKeyLine(pubData); err == nil && pub.Equal(id.Public) {
			id.Comment = c
		}
	}
	return id, nil
}

// readPrivateKeyFile opens path, checks its permissions on the open file,
// and reads at most maxKeyFileSize bytes.
func readPrivateKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: reading private key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("auth: reading private key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrMalformedKey, path)
	}
	if err := checkPrivateKeyFile(path, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("auth: reading private key %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrMalformedKey, path, maxKeyFileSize)
	}
	return data, nil
}

// WriteFiles writes the private key to path (OpenSSH format, mode 0600,
// created exclusively: an existing file is never overwritten and the error
// wraps fs.ErrExist) and the public key to path+".pub" (one
// "ssh-ed25519 AAAA... comment" line, mode 0644, replacing any stale file).
// If the .pub file cannot be written, the new private key is removed.
func (id *Identity) WriteFiles(path string) error {
	pem, err := marshalOpenSSHPrivateKey(id.Private, id.Comment)
	if err != nil {
		return err
	}
	if err := writeNewFile(path, pem, 0o600, os.O_EXCL); err != nil {
		return fmt.Errorf("auth: writing private key: %w", err)
	}
	pub := []byte(AuthorizedLine(id.Public, id.Comment) + "\n")
	if err := writeNewFile(path+".pub", pub, 0o644, os.O_TRUNC); err != nil {
		os.Remove(path)
		return fmt.Errorf("auth: writing public key: %w", err)
	}
	return nil
}

// writeNewFile creates path with perm plus the extra open flag, writes
// data and syncs it. On a write error the file is removed.
func writeNewFile(path string, data []byte, perm fs.FileMode, flag int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// EnsureIdentity loads the identity at path, or, if no file is there,
// generates one with comment and writes it with WriteFiles. created
// reports whether a new identity was made. Every other load error
// (permissions, encryption, wrong type) is returned, never papered over.
// If another process creates path concurrently, its key is loaded.
func EnsureIdentity(path, comment string) (id *Identity, created bool, err error) {
	id, err = LoadIdentity(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return id, false, err
	}
	if id, err = GenerateIdentity(comment); err != nil {
		return nil, false, err
	}
	err = id.WriteFiles(path)
	if errors.Is(err, fs.ErrExist) {
		id, err = LoadIdentity(path)
		return id, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return id, true, nil
}

// CheckSecretFile applies the private-key rules (no access by group or
// others, owned by the effective user) to another file that holds a
// secret, such as a stored TLS session ticket, given its open file's
// FileInfo. The error wraps ErrKeyPermissions.
func CheckSecretFile(path string, fi fs.FileInfo) error {
	return checkPrivateKeyFile(path, fi)
}
