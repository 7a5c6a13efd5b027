package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// KeyTypeEd25519 is the OpenSSH name of the only key type rexec supports.
const KeyTypeEd25519 = "ssh-ed25519"

// maxPublicKeyLine bounds a .pub line; a real ssh-ed25519 line is < 100
// bytes plus the comment.
const maxPublicKeyLine = 8 << 10

// Fingerprint returns "SHA256:<unpadded base64>" of the key's SSH wire
// encoding, exactly as `ssh-keygen -l` prints it.
func Fingerprint(pub ed25519.PublicKey) string {
	return fingerprintBlob(marshalPublicKey(pub))
}

// fingerprintBlob is Fingerprint of a key of any type, given its wire
// encoding.
func fingerprintBlob(blob []byte) string {
	sum := sha256.Sum256(blob)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// AuthorizedLine returns "ssh-ed25519 AAAA... comment", the line format of
// .pub and authorized_keys files, without a newline (and without a trailing
// space when comment is empty).
func AuthorizedLine(pub ed25519.PublicKey, comment string) string {
	line := KeyTypeEd25519 + " " + base64.StdEncoding.EncodeToString(marshalPublicKey(pub))
	if comment != "" {
		line += " " + comment
	}
	return line
}

// ParsePublicKeyLine parses the content of a .pub file:
// "ssh-ed25519 AAAA... [comment]". Surrounding whitespace and one trailing
// newline are allowed; options and multiple lines are not. A key of another
// type gives an error wrapping ErrUnsupportedKey; anything else malformed
// wraps ErrMalformedKey.
func ParsePublicKeyLine(line []byte) (ed25519.PublicKey, string, error) {
	if len(line) > maxPublicKeyLine {
		return nil, "", fmt.Errorf("%w: public key line longer than %d bytes", ErrMalformedKey, maxPublicKeyLine)
	}
	line = bytes.TrimSpace(line)
	if bytes.ContainsAny(line, "\r\n") {
		return nil, "", fmt.Errorf("%w: public key must be a single line", ErrMalformedKey)
	}
	keyType, rest := nextField(string(line))
	blob, comment := nextField(rest)
	pub, err := parseKeyFields(keyType, blob)
	if err != nil {
		return nil, "", err
	}
	return pub, strings.TrimSpace(comment), nil
}

// parseKeyFields decodes the keytype and base64 fields of a key line.
func parseKeyFields(keyType, b64 string) (ed25519.PublicKey, error) {
	if keyType == "" || b64 == "" {
		return nil, fmt.Errorf("%w: want \"ssh-ed25519 BASE64 [comment]\"", ErrMalformedKey)
	}
	if keyType != KeyTypeEd25519 {
		return nil, fmt.Errorf("%w %q (rexec supports only %s)", ErrUnsupportedKey, keyType, KeyTypeEd25519)
	}
	blob, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: bad base64: %w", ErrMalformedKey, err)
	}
	return unmarshalPublicKey(blob)
}

// nextField splits s at the first run of spaces or tabs after its first
// field, returning the field and the remainder with leading blanks removed.
func nextField(s string) (field, rest string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], " \t")
}

// marshalPublicKey returns the SSH wire encoding (RFC 8709 §4):
// string "ssh-ed25519", string key.
func marshalPublicKey(pub ed25519.PublicKey) []byte {
	b := appendString(nil, []byte(KeyTypeEd25519))
	return appendString(b, pub)
}

// unmarshalPublicKey parses the SSH wire encoding of an ed25519 key,
// rejecting other types, wrong lengths and trailing bytes.
func unmarshalPublicKey(blob []byte) (ed25519.PublicKey, error) {
	typ, rest, ok := readString(blob)
	if !ok {
		return nil, fmt.Errorf("%w: truncated key blob", ErrMalformedKey)
	}
	if string(typ) != KeyTypeEd25519 {
		return nil, fmt.Errorf("%w %q in key blob", ErrUnsupportedKey, printable(typ))
	}
	key, rest, ok := readString(rest)
	if !ok || len(rest) != 0 || len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: bad ssh-ed25519 key blob", ErrMalformedKey)
	}
	return ed25519.PublicKey(bytes.Clone(key)), nil
}

// printable truncates and quotes-safe an untrusted name for messages.
func printable(b []byte) string {
	const maxLen = 64
	if len(b) > maxLen {
		b = b[:maxLen]
	}
	return strings.ToValidUTF8(string(b), "?")
}
