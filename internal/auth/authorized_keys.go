package auth

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
)

// maxAuthorizedKeysSize bounds what LoadAuthorizedKeys reads: 1 MiB holds
// over 10,000 keys, far beyond any hand-kept file.
const maxAuthorizedKeysSize = 1 << 20

// AuthorizedKey is one valid line of an authorized_keys file. Line is its
// 1-based line number.
type AuthorizedKey struct {
	// Key is the ed25519 key, the one type that can be a TLS certificate's
	// key; nil for an ECDSA or RSA line, whose key a client proves with a
	// key proof (docs/PROTOCOL.md §1.4.1).
	Key ed25519.PublicKey
	// Blob is the key's SSH wire encoding, whatever its type: what is
	// looked up and fingerprinted.
	Blob    []byte
	Comment string
	Options KeyOptions
	Line    int
}

// Fingerprint is the key's SHA256 fingerprint, as ssh-keygen -l prints it.
func (k *AuthorizedKey) Fingerprint() string { return fingerprintBlob(k.Blob) }

// AuthorizedKeys is a parsed authorized_keys file, keys in file order.
// The zero value authorizes nobody. It is read-only after parsing and safe
// for concurrent Lookups.
type AuthorizedKeys struct {
	Keys []AuthorizedKey
}

// sshKeyTypes are the OpenSSH key type names; a line's first field is an
// option list unless it is one of these.
var sshKeyTypes = map[string]bool{
	"ssh-ed25519": true, "ssh-rsa": true, "ssh-dss": true,
	"ecdsa-sha2-nistp256": true, "ecdsa-sha2-nistp384": true, "ecdsa-sha2-nistp521": true,
	"sk-ssh-ed25519@openssh.com": true, "sk-ecdsa-sha2-nistp256@openssh.com": true,
	"ssh-ed25519-cert-v01@openssh.com": true, "ssh-rsa-cert-v01@openssh.com": true,
	"ssh-dss-cert-v01@openssh.com": true, "ecdsa-sha2-nistp256-cert-v01@openssh.com": true,
	"ecdsa-sha2-nistp384-cert-v01@openssh.com": true, "ecdsa-sha2-nistp521-cert-v01@openssh.com": true,
	"sk-ssh-ed25519-cert-v01@openssh.com": true, "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com": true,
}

// ParseAuthorizedKeys parses an authorized_keys file in OpenSSH format:
// per line, optional options (see KeyOptions), key type, base64 key,
// optional comment. Blank lines and lines starting with '#' are ignored;
// CRLF line ends are accepted. A line with a key type rexec does not use
// (anything but ssh-ed25519, ecdsa-sha2-nistp256/384/521 and ssh-rsa of at
// least MinRSABits: certificates, security keys, DSA), a malformed
// key or an invalid or unknown option is skipped, and reported in
// warnings as "line N: ...". It never fails: a file of garbage authorizes
// nobody.
func ParseAuthorizedKeys(data []byte) (keys *AuthorizedKeys, warnings []string) {
	keys = &AuthorizedKeys{}
	for n, line := range bytes.Split(data, []byte("\n")) {
		s := strings.TrimSpace(string(line))
		if s == "" || s[0] == '#' {
			continue
		}
		k, err := parseAuthorizedLine(s)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("line %d: %v", n+1, err))
			continue
		}
		k.Line = n + 1
		keys.Keys = append(keys.Keys, k)
	}
	return keys, warnings
}

// parseAuthorizedLine parses one non-empty, non-comment line.
func parseAuthorizedLine(s string) (AuthorizedKey, error) {
	var k AuthorizedKey
	first, rest := nextField(s)
	if !sshKeyTypes[first] {
		opts, after := splitOptionsField(s)
		o, err := parseOptions(opts)
		if err != nil {
			return k, fmt.Errorf("bad options: %w", err)
		}
		k.Options = o
		first, rest = nextField(after)
		if !sshKeyTypes[first] {
			return k, fmt.Errorf("%w: unknown key type %q", ErrMalformedKey, printable([]byte(first)))
		}
	}
	b64, comment := nextField(rest)
	k.Comment = strings.TrimSpace(comment)
	if first != KeyTypeEd25519 {
		if !offerable[first] {
			return k, fmt.Errorf("%w %q (rexec uses ssh-ed25519, ecdsa-sha2-nistp256/384/521 and ssh-rsa)", ErrUnsupportedKey, printable([]byte(first)))
		}
		blob, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return k, fmt.Errorf("%w: bad base64: %w", ErrMalformedKey, err)
		}
		pub, err := ParseOfferedKey(blob)
		if err != nil {
			return k, err
		}
		if pub.Type() != first {
			return k, fmt.Errorf("%w: line says %s, key is %s", ErrMalformedKey, printable([]byte(first)), pub.Type())
		}
		k.Blob = pub.Marshal()
		return k, nil
	}
	key, err := parseKeyFields(first, b64)
	if err != nil {
		return k, err
	}
	k.Key, k.Blob = key, marshalPublicKey(key)
	return k, nil
}

// splitOptionsField returns the leading option list of a line and the
// rest, ending the list at the first space or tab outside double quotes
// (sshd's sshkey_advance_past_options).
func splitOptionsField(s string) (opts, rest string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s) && s[i+1] == '"':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && (c == ' ' || c == '\t'):
			return s[:i], strings.TrimLeft(s[i:], " \t")
		}
	}
	return s, ""
}

// LoadAuthorizedKeys reads and parses the authorized_keys file at path.
// A missing file is an empty set and no error. The file and the
// directories above it must pass m (StrictModes, as sshd's): otherwise
// the error wraps ErrKeyPermissions and no key is returned. A file over
// 1 MiB is refused too.
func LoadAuthorizedKeys(path string, m StrictModes) (*AuthorizedKeys, []string, error) {
	data, err := readTrustFile(path, m)
	if errors.Is(err, fs.ErrNotExist) {
		return &AuthorizedKeys{}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	keys, warnings := ParseAuthorizedKeys(data)
	return keys, warnings, nil
}

// readTrustFile reads authorized_keys after checking the directories above
// it and, on the open file, the file itself.
func readTrustFile(path string, m StrictModes) ([]byte, error) {
	if err := m.Check(path); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: reading authorized keys: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("auth: reading authorized keys: %w", err)
	}
	if err := m.checkFile(path, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxAuthorizedKeysSize+1))
	if err != nil {
		return nil, fmt.Errorf("auth: reading %s: %w", path, err)
	}
	if len(data) > maxAuthorizedKeysSize {
		return nil, fmt.Errorf("auth: %s is larger than %d bytes", path, maxAuthorizedKeysSize)
	}
	return data, nil
}

// Lookup returns the first entry for pub whose from= option (if any)
// admits remote. If pub is not listed the error wraps ErrNotAuthorized
// and names the key's fingerprint; if it is listed but every entry's
// from= excludes remote, the error wraps ErrFromRefused. A nil receiver
// authorizes nobody.
func (a *AuthorizedKeys) Lookup(pub ed25519.PublicKey, remote net.IP) (*AuthorizedKey, error) {
	return a.LookupBlob(marshalPublicKey(pub), remote)
}

// LookupBlob is Lookup for a key of any type, given its SSH wire
// encoding.
func (a *AuthorizedKeys) LookupBlob(blob []byte, remote net.IP) (*AuthorizedKey, error) {
	listed := false
	for i := range a.keys() {
		k := &a.Keys[i]
		if !bytes.Equal(k.Blob, blob) {
			continue
		}
		listed = true
		if len(k.Options.From) == 0 || MatchFrom(k.Options.From, remote) {
			return k, nil
		}
	}
	if listed {
		return nil, fmt.Errorf("%w: %s from %s", ErrFromRefused, fingerprintBlob(blob), remote)
	}
	return nil, fmt.Errorf("%w: %s", ErrNotAuthorized, fingerprintBlob(blob))
}

// keys returns the entries, tolerating a nil receiver.
func (a *AuthorizedKeys) keys() []AuthorizedKey {
	if a == nil {
		return nil
	}
	return a.Keys
}

// AppendAuthorizedKey appends AuthorizedLine(pub, comment) to the
// authorized_keys file at path unless a valid entry for pub is already
// there (with any options); added reports whether a line was written. The
// file is created with mode 0600 if missing; its directory must exist.
// A missing final newline in the existing file is supplied first.
// Concurrent appends from several processes are not serialized.
func AppendAuthorizedKey(path string, pub ed25519.PublicKey, comment string) (added bool, err error) {
	if len(pub) != ed25519.PublicKeySize {
		return false, fmt.Errorf("%w: ed25519 public key of %d bytes", ErrMalformedKey, len(pub))
	}
	return AppendAuthorizedBlob(path, marshalPublicKey(pub), comment)
}

// AppendAuthorizedBlob is AppendAuthorizedKey for a key of any type rexec
// authorizes (ParseUserKeyLine), given its SSH wire encoding.
func AppendAuthorizedBlob(path string, blob []byte, comment string) (added bool, err error) {
	typ, _, ok := readString(blob)
	if !ok {
		return false, fmt.Errorf("%w: truncated key blob", ErrMalformedKey)
	}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("auth: reading authorized keys: %w", err)
	}
	keys, _ := ParseAuthorizedKeys(data)
	for _, k := range keys.Keys {
		if bytes.Equal(k.Blob, blob) {
			return false, nil
		}
	}
	line := string(typ) + " " + base64.StdEncoding.EncodeToString(blob)
	if c := sanitizeComment(comment); c != "" {
		line += " " + c
	}
	line += "\n"
	if len(data) > 0 && data[len(data)-1] != '\n' {
		line = "\n" + line
	}
	return true, appendFile(path, line)
}

// ParseUserKeyLine parses a .pub line of any key type rexec authorizes
// (ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa of at least
// MinRSABits): its SSH wire encoding and comment. Options are refused.
func ParseUserKeyLine(line []byte) (blob []byte, comment string, err error) {
	if len(line) > maxPublicKeyLine {
		return nil, "", fmt.Errorf("%w: public key line longer than %d bytes", ErrMalformedKey, maxPublicKeyLine)
	}
	line = bytes.TrimSpace(line)
	if bytes.ContainsAny(line, "\r\n") {
		return nil, "", fmt.Errorf("%w: public key must be a single line", ErrMalformedKey)
	}
	typ, rest := nextField(string(line))
	if !offerable[typ] {
		if _, _, err := ParsePublicKeyLine(line); err != nil {
			return nil, "", err
		}
	}
	b64, comment := nextField(rest)
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, "", fmt.Errorf("%w: bad base64: %w", ErrMalformedKey, err)
	}
	pub, err := ParseOfferedKey(raw)
	if err != nil {
		return nil, "", err
	}
	if pub.Type() != typ {
		return nil, "", fmt.Errorf("%w: line says %s, key is %s", ErrMalformedKey, printable([]byte(typ)), pub.Type())
	}
	return pub.Marshal(), strings.TrimSpace(comment), nil
}

// sanitizeComment keeps a comment on one line.
func sanitizeComment(c string) string {
	return strings.TrimSpace(strings.NewReplacer("\n", " ", "\r", " ").Replace(c))
}

// appendFile appends s to path, creating it 0600.
func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("auth: opening %s: %w", path, err)
	}
	_, err = f.WriteString(s)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("auth: appending to %s: %w", path, err)
	}
	return nil
}
