package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
)

// rexec uses only ssh-ed25519, but a known_hosts file may list other key
// types for the same host, and such a line still means "this host is
// known with another key". parseAnyPublicKey decides which blobs count,
// with the rules of golang.org/x/crypto/ssh's ParsePublicKey (the parser
// auth used before; TestKeyBlobMatchesOracle and FuzzKeyBlob hold the two
// together), and re-encodes each the way that package's Marshal does, so
// that fingerprints in HostKeyChangedError stay what they were.

// Public key type names (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709 §4,
// PROTOCOL.u2f and PROTOCOL.certkeys in openssh-portable).
const (
	keyTypeRSA       = "ssh-rsa"
	keyTypeECDSA256  = "ecdsa-sha2-nistp256"
	keyTypeECDSA384  = "ecdsa-sha2-nistp384"
	keyTypeECDSA521  = "ecdsa-sha2-nistp521"
	keyTypeSKECDSA   = "sk-ecdsa-sha2-nistp256@openssh.com"
	keyTypeSKEd25519 = "sk-ssh-ed25519@openssh.com"
)

// certKeyTypes maps each certificate type x/crypto/ssh parses to the type
// of the key it certifies.
var certKeyTypes = map[string]string{
	"ssh-rsa-cert-v01@openssh.com":                keyTypeRSA,
	"ecdsa-sha2-nistp256-cert-v01@openssh.com":    keyTypeECDSA256,
	"ecdsa-sha2-nistp384-cert-v01@openssh.com":    keyTypeECDSA384,
	"ecdsa-sha2-nistp521-cert-v01@openssh.com":    keyTypeECDSA521,
	"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com": keyTypeSKECDSA,
	"ssh-ed25519-cert-v01@openssh.com":            KeyTypeEd25519,
	"sk-ssh-ed25519-cert-v01@openssh.com":         keyTypeSKEd25519,
}

// notSigningKeyTypes are refused as a certificate's signature key: every
// certificate type, including those no certificate here can have.
var notSigningKeyTypes = map[string]bool{
	"rsa-sha2-256-cert-v01@openssh.com": true, "rsa-sha2-512-cert-v01@openssh.com": true,
	"ssh-mldsa-44-cert-v01@golang.org": true, "ssh-mldsa-65-cert-v01@golang.org": true,
	"ssh-mldsa-87-cert-v01@golang.org": true,
}

// skSignatureFormats are the signature formats whose encoding carries
// fields after the blob (flags and counter, PROTOCOL.u2f).
var skSignatureFormats = map[string]bool{
	keyTypeSKECDSA: true, keyTypeSKEd25519: true,
	"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com": true, "sk-ssh-ed25519-cert-v01@openssh.com": true,
}

// RSA limits, as x/crypto/ssh applies them: a modulus of at most 16,384
// bits (the most ssh-keygen makes) and an odd exponent of 3 or more that
// fits in 24 bits.
const (
	maxRSABits         = 16384
	maxRSAExponentBits = 24
)

var errKeyBlob = errors.New("bad key blob")

// parsedKey is a public key blob of any supported type.
type parsedKey struct {
	// typ is the key type name the blob starts with.
	typ string
	// wire is the canonical encoding: equal to the blob except that RSA
	// integers are minimal and empty certificate option values are
	// written empty.
	wire []byte
	// plain is wire for a key, and the certified key's wire for a
	// certificate: what a @revoked line revokes.
	plain []byte
}

// parseAnyPublicKey parses a public key blob of any type that
// x/crypto/ssh's ParsePublicKey accepts: ssh-ed25519, ssh-rsa, the three
// NIST ECDSA curves, the two security-key types and certificates of all
// of them. Trailing bytes are an error.
func parseAnyPublicKey(blob []byte) (parsedKey, error) {
	typ, body, ok := readString(blob)
	if !ok {
		return parsedKey{}, errKeyBlob
	}
	if certified, ok := certKeyTypes[string(typ)]; ok {
		return parseCertificate(string(typ), certified, body)
	}
	wire, rest, err := parsePlainKey(string(typ), body)
	if err != nil {
		return parsedKey{}, err
	}
	if len(rest) != 0 {
		return parsedKey{}, fmt.Errorf("%w: trailing bytes", errKeyBlob)
	}
	return parsedKey{typ: string(typ), wire: wire, plain: wire}, nil
}

// parsePlainKey parses the fields after the type name of a key that is
// not a certificate, returning its canonical encoding (type name
// included) and the bytes after it.
func parsePlainKey(typ string, body []byte) (wire, rest []byte, err error) {
	r := wireReader{b: body}
	wire = appendString(nil, []byte(typ))
	switch typ {
	case KeyTypeEd25519, keyTypeSKEd25519:
		key := r.string()
		wire = appendString(wire, key)
		if typ == keyTypeSKEd25519 {
			wire = appendString(wire, r.string()) // application
		}
		if !r.ok() || len(key) != 32 {
			return nil, nil, errKeyBlob
		}
	case keyTypeECDSA256, keyTypeECDSA384, keyTypeECDSA521, keyTypeSKECDSA:
		curve, point := r.string(), r.string()
		wire = appendString(appendString(wire, curve), point)
		if typ == keyTypeSKECDSA {
			wire = appendString(wire, r.string()) // application
		}
		if !r.ok() || !validECDSAPoint(typ, string(curve), point) {
			return nil, nil, errKeyBlob
		}
	case keyTypeRSA:
		e, n := readMpint(&r), readMpint(&r)
		if !r.ok() || !validRSA(e, n) {
			return nil, nil, errKeyBlob
		}
		wire = appendMpint(appendMpint(wire, e), n)
	default:
		return nil, nil, fmt.Errorf("%w: unknown key type %q", errKeyBlob, printable([]byte(typ)))
	}
	return wire, r.rest(), nil
}

// validECDSAPoint checks the curve name against the key type and the
// point: uncompressed, on the curve, not the identity.
func validECDSAPoint(typ, curve string, point []byte) bool {
	var c elliptic.Curve
	switch {
	case typ == keyTypeSKECDSA && curve == "nistp256", typ == keyTypeECDSA256 && curve == "nistp256":
		c = elliptic.P256()
	case typ == keyTypeECDSA384 && curve == "nistp384":
		c = elliptic.P384()
	case typ == keyTypeECDSA521 && curve == "nistp521":
		c = elliptic.P521()
	default:
		return false
	}
	_, err := ecdsa.ParseUncompressedPublicKey(c, point)
	return err == nil
}

// validRSA applies the RSA limits.
func validRSA(e, n *big.Int) bool {
	if n.BitLen() > maxRSABits || e.BitLen() > maxRSAExponentBits {
		return false
	}
	return e.Sign() > 0 && e.Int64() >= 3 && e.Bit(0) == 1
}

// readMpint reads an SSH mpint: a two's-complement big-endian number,
// negative when its first bit is set, zero when empty.
func readMpint(r *wireReader) *big.Int {
	b := r.string()
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return n
}

// appendMpint appends n as a minimal SSH mpint.
func appendMpint(b []byte, n *big.Int) []byte {
	switch n.Sign() {
	case 0:
		return appendString(b, nil)
	case 1:
		mag := n.Bytes()
		if mag[0]&0x80 != 0 {
			mag = append([]byte{0}, mag...)
		}
		return appendString(b, mag)
	}
	// A negative n is 2^(8k) + n in the fewest k bytes whose first bit
	// is set: invert the bytes of -n-1 and add 0xff in front if needed.
	mag := new(big.Int).Sub(new(big.Int).Neg(n), big.NewInt(1)).Bytes()
	for i := range mag {
		mag[i] = ^mag[i]
	}
	if len(mag) == 0 || mag[0]&0x80 == 0 {
		mag = append([]byte{0xff}, mag...)
	}
	return appendString(b, mag)
}

// parseCertificate parses the body of an OpenSSH certificate
// (PROTOCOL.certkeys) of type typ certifying a certified-type key: nonce,
// the key's fields, serial, type, key id, principals, validity, critical
// options, extensions, reserved, signature key, signature. The signature
// is not verified: rexec never trusts a certificate, it only has to know
// whether the line counts.
func parseCertificate(typ, certified string, body []byte) (parsedKey, error) {
	r := wireReader{b: body}
	nonce := r.string()
	if !r.ok() {
		return parsedKey{}, errKeyBlob
	}
	keyWire, rest, err := parsePlainKey(certified, r.rest())
	if err != nil {
		return parsedKey{}, err
	}
	_, keyFields, _ := readString(keyWire)
	wire := appendString(appendString(nil, []byte(typ)), nonce)
	wire = append(wire, keyFields...)
	tail, err := canonicalCertTail(rest)
	if err != nil {
		return parsedKey{}, err
	}
	return parsedKey{typ: typ, wire: append(wire, tail...), plain: keyWire}, nil
}

// canonicalCertTail parses a certificate's fields after the certified key
// and returns their canonical encoding.
func canonicalCertTail(b []byte) ([]byte, error) {
	r := wireReader{b: b}
	serial, certType, keyID := r.uint64(), r.uint32(), r.string()
	principals := r.string()
	validAfter, validBefore := r.uint64(), r.uint64()
	critical, extensions, reserved := r.string(), r.string(), r.string()
	signatureKey, signature := r.string(), r.string()
	if !r.done() || !validStringList(principals) || !validSignature(signature) {
		return nil, errKeyBlob
	}
	critical, err := canonicalOptions(critical)
	if err != nil {
		return nil, err
	}
	if extensions, err = canonicalOptions(extensions); err != nil {
		return nil, err
	}
	signer, err := parseSigningKey(signatureKey)
	if err != nil {
		return nil, err
	}
	out := binary.BigEndian.AppendUint64(nil, serial)
	out = binary.BigEndian.AppendUint32(out, certType)
	out = appendString(out, keyID)
	out = appendString(out, principals)
	out = binary.BigEndian.AppendUint64(out, validAfter)
	out = binary.BigEndian.AppendUint64(out, validBefore)
	out = appendString(appendString(appendString(out, critical), extensions), reserved)
	return appendString(appendString(out, signer), signature), nil
}

// parseSigningKey parses a certificate's signature key, which must be a
// plain key: a certificate signed by a certificate is refused before it
// is parsed, so nesting cannot recurse.
func parseSigningKey(blob []byte) ([]byte, error) {
	typ, body, ok := readString(blob)
	if !ok {
		return nil, errKeyBlob
	}
	if _, isCert := certKeyTypes[string(typ)]; isCert || notSigningKeyTypes[string(typ)] {
		return nil, fmt.Errorf("%w: certificate as signature key", errKeyBlob)
	}
	wire, rest, err := parsePlainKey(string(typ), body)
	if err != nil || len(rest) != 0 {
		return nil, errKeyBlob
	}
	return wire, nil
}

// validStringList reports whether b is a concatenation of SSH strings.
func validStringList(b []byte) bool {
	for len(b) > 0 {
		var ok bool
		if _, b, ok = readString(b); !ok {
			return false
		}
	}
	return true
}

// validSignature checks a signature's framing: format and blob, and for
// the security-key formats any trailing fields.
func validSignature(b []byte) bool {
	r := wireReader{b: b}
	format := r.string()
	r.string() // blob
	if skSignatureFormats[string(format)] {
		return r.ok()
	}
	return r.done()
}

// canonicalOptions checks a certificate's critical options or extensions
// (name, data pairs with names in strictly increasing order; data empty
// or one string) and re-encodes them with an empty value written as empty
// data, the form x/crypto/ssh marshals.
func canonicalOptions(b []byte) ([]byte, error) {
	var out []byte
	var last []byte
	for first := true; len(b) > 0; first = false {
		r := wireReader{b: b}
		name, data := r.string(), r.string()
		if !r.ok() || (!first && string(name) <= string(last)) {
			return nil, fmt.Errorf("%w: bad certificate options", errKeyBlob)
		}
		b, last = r.rest(), name
		out = appendString(out, name)
		if len(data) == 0 {
			out = appendString(out, nil)
			continue
		}
		value, extra, ok := readString(data)
		if !ok || len(extra) != 0 {
			return nil, fmt.Errorf("%w: bad certificate option value", errKeyBlob)
		}
		if len(value) == 0 {
			out = appendString(out, nil)
		} else {
			out = appendString(out, appendString(nil, value))
		}
	}
	return out, nil
}
