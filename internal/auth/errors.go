package auth

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Errors returned by this package wrap them with context
// (path, key type, fingerprint); compare with errors.Is.
var (
	// ErrKeyPermissions: a private key (or authorized_keys) file is
	// accessible by group or others, or owned by another user.
	ErrKeyPermissions = errors.New("auth: unprotected key file")
	// ErrEncryptedKey: the private key is passphrase-protected; rexec
	// reads unencrypted keys only.
	ErrEncryptedKey = errors.New("auth: private key is passphrase-protected")
	// ErrUnsupportedKey: the key is not ssh-ed25519.
	ErrUnsupportedKey = errors.New("auth: unsupported key type")
	// ErrNotAuthorized: the public key is not in authorized_keys.
	ErrNotAuthorized = errors.New("auth: key not authorized")
	// ErrFromRefused: the key is listed but its from= option excludes the
	// remote address.
	ErrFromRefused = errors.New("auth: key not authorized from this address")
	// ErrMalformedKey: a key file or key line cannot be parsed.
	ErrMalformedKey = errors.New("auth: malformed key")
	// ErrHostKeyRevoked: known_hosts marks the host key @revoked.
	ErrHostKeyRevoked = errors.New("auth: host key is revoked")
)

// UnknownHostError is returned by KnownHosts.Check when no key is pinned
// for the host. Host is "host:port" ("[v6]:port" for IPv6) and Got the
// fingerprint of the key the host presented.
type UnknownHostError struct {
	Host string
	Got  string
}

// Error returns "auth: unknown host key for HOST (SHA256:...)".
func (e *UnknownHostError) Error() string {
	return fmt.Sprintf("auth: unknown host key for %s (%s)", e.Host, e.Got)
}

// HostKeyChangedError is returned by KnownHosts.Check when keys are pinned
// for the host but none equals the presented one: possibly an attack.
// Want holds the pinned fingerprints, Got the presented one, and Lines the
// known_hosts positions ("path:line") of the pinned entries.
type HostKeyChangedError struct {
	Host  string
	Want  []string
	Got   string
	Lines []string
}

// Error names the host, both fingerprints and where the pinned key is.
func (e *HostKeyChangedError) Error() string {
	return fmt.Sprintf("auth: HOST KEY CHANGED for %s: got %s, known_hosts pins %s (%s)",
		e.Host, e.Got, strings.Join(e.Want, ", "), strings.Join(e.Lines, ", "))
}
