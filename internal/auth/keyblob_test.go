package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// oracleKey is what x/crypto/ssh makes of a key blob.
type oracleKey struct {
	ok          bool
	typ         string
	wire, plain []byte
}

func parseWithOracle(blob []byte) oracleKey {
	k, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return oracleKey{}
	}
	plain := k.Marshal()
	if c, ok := k.(*ssh.Certificate); ok {
		plain = c.Key.Marshal()
	}
	return oracleKey{ok: true, typ: k.Type(), wire: k.Marshal(), plain: plain}
}

// checkKeyBlob compares parseAnyPublicKey with the oracle on one blob.
func checkKeyBlob(t testing.TB, name string, blob []byte) {
	t.Helper()
	want := parseWithOracle(blob)
	got, err := parseAnyPublicKey(blob)
	if (err == nil) != want.ok {
		t.Fatalf("%s: parseAnyPublicKey(%x) error = %v, oracle accepts: %v", name, blob, err, want.ok)
	}
	if err != nil {
		return
	}
	if got.typ != want.typ || !bytes.Equal(got.wire, want.wire) || !bytes.Equal(got.plain, want.plain) {
		t.Fatalf("%s: parseAnyPublicKey(%x) = %q\n wire %x\nplain %x\nwant %q\n wire %x\nplain %x",
			name, blob, got.typ, got.wire, got.plain, want.typ, want.wire, want.plain)
	}
}

// wireOf concatenates SSH fields: []byte and string values become
// strings, uint32 and uint64 values big-endian integers.
func wireOf(fields ...any) []byte {
	var b []byte
	for _, f := range fields {
		switch v := f.(type) {
		case string:
			b = appendString(b, []byte(v))
		case []byte:
			b = appendString(b, v)
		case uint32:
			b = binary.BigEndian.AppendUint32(b, v)
		case uint64:
			b = binary.BigEndian.AppendUint64(b, v)
		case raw:
			b = append(b, v...)
		default:
			panic("bug: wireOf field type")
		}
	}
	return b
}

// raw is appended to a wireOf blob as is.
type raw []byte

// sampleKeys are real keys of every type, made once.
var sampleKeys = sync.OnceValue(func() map[string][]byte {
	keys := map[string][]byte{}
	add := func(name string, k any) {
		pub, err := ssh.NewPublicKey(k)
		if err != nil {
			panic(err)
		}
		keys[name] = pub.Marshal()
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	add("rsa", &rsaKey.PublicKey)
	for name, c := range map[string]elliptic.Curve{"p256": elliptic.P256(), "p384": elliptic.P384(), "p521": elliptic.P521()} {
		k, _ := ecdsa.GenerateKey(c, rand.Reader)
		add(name, &k.PublicKey)
	}
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	add("ed25519", edPub)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	point, _ := p256.PublicKey.Bytes()
	keys["sk-ecdsa"] = wireOf(keyTypeSKECDSA, "nistp256", point, "ssh:")
	keys["sk-ed25519"] = wireOf(keyTypeSKEd25519, []byte(edPub), "ssh:")
	return keys
})

// sampleCerts are certificates of every type x/crypto can sign, signed
// by each kind of key.
func sampleCerts(t testing.TB) map[string][]byte {
	t.Helper()
	certs := map[string][]byte{}
	_, edSigner, _ := ed25519.GenerateKey(rand.Reader)
	ecSigner, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, signerKey := range []any{edSigner, ecSigner} {
		signer, err := ssh.NewSignerFromKey(signerKey)
		if err != nil {
			t.Fatal(err)
		}
		for name, blob := range sampleKeys() {
			pub, err := ssh.ParsePublicKey(blob)
			if err != nil {
				t.Fatal(err)
			}
			cert := &ssh.Certificate{Key: pub, Serial: 7, CertType: ssh.HostCert, KeyId: "id",
				ValidPrincipals: []string{"a.example", "b.example"}, ValidBefore: ssh.CertTimeInfinity,
				Permissions: ssh.Permissions{
					CriticalOptions: map[string]string{"force-command": "true", "source-address": "10.0.0.0/8"},
					Extensions:      map[string]string{"permit-pty": "", "x@example": "v"}}}
			if err := cert.SignCert(rand.Reader, signer); err != nil {
				t.Fatal(err)
			}
			certs[name+" cert by "+signer.PublicKey().Type()] = cert.Marshal()
		}
	}
	return certs
}

// rsaBlob builds an ssh-rsa blob from mpint bytes as given, minimal or
// not.
func rsaBlob(e, n []byte) []byte { return wireOf(keyTypeRSA, e, n) }

// keyBlobCases are blobs the oracle accepts or refuses for a reason
// parseAnyPublicKey must share; they seed FuzzKeyBlob too.
func keyBlobCases(t testing.TB) map[string][]byte {
	cases := map[string][]byte{}
	for name, b := range sampleKeys() {
		cases[name] = b
		cases[name+" trailing"] = append(bytes.Clone(b), 0)
		cases[name+" truncated"] = b[:len(b)-1]
	}
	for name, b := range sampleCerts(t) {
		cases[name] = b
		cases[name+" truncated"] = b[:len(b)-1]
	}
	n := bytes.Repeat([]byte{0x7f}, 256)
	for name, b := range map[string][]byte{
		"rsa e=3":             rsaBlob([]byte{3}, n),
		"rsa e=65537 padded":  rsaBlob([]byte{0, 0, 1, 0, 1}, append([]byte{0, 0}, n...)),
		"rsa e=2":             rsaBlob([]byte{2}, n),
		"rsa e=1":             rsaBlob([]byte{1}, n),
		"rsa e negative":      rsaBlob([]byte{0xff, 0xfd}, n),
		"rsa e 24 bits":       rsaBlob([]byte{0xff, 0xff, 0xff}, n),
		"rsa e 24 bits pos":   rsaBlob([]byte{0, 0xff, 0xff, 0xff}, n),
		"rsa e 25 bits":       rsaBlob([]byte{1, 0xff, 0xff, 0xff}, n),
		"rsa e empty":         rsaBlob(nil, n),
		"rsa n negative":      rsaBlob([]byte{3}, []byte{0x80, 1}),
		"rsa n -1 padded":     rsaBlob([]byte{3}, []byte{0xff, 0xff, 0xff}),
		"rsa n -256":          rsaBlob([]byte{3}, []byte{0xff, 0xff, 0x00}),
		"rsa n zero":          rsaBlob([]byte{3}, nil),
		"rsa n zero padded":   rsaBlob([]byte{3}, []byte{0, 0}),
		"rsa n 16384 bits":    rsaBlob([]byte{3}, append([]byte{0}, bytes.Repeat([]byte{0xff}, 2048)...)),
		"rsa n 16385 bits":    rsaBlob([]byte{3}, append([]byte{1}, bytes.Repeat([]byte{0xff}, 2048)...)),
		"ed25519 short":       wireOf(KeyTypeEd25519, make([]byte, 31)),
		"ed25519 zero key":    wireOf(KeyTypeEd25519, make([]byte, 32)),
		"sk-ed25519 no app":   wireOf(keyTypeSKEd25519, make([]byte, 32)),
		"ecdsa wrong curve":   wireOf(keyTypeECDSA256, "nistp384", make([]byte, 97)),
		"ecdsa bad point":     wireOf(keyTypeECDSA256, "nistp256", append([]byte{4}, make([]byte, 64)...)),
		"ecdsa infinity":      wireOf(keyTypeECDSA256, "nistp256", []byte{0}),
		"sk-ecdsa p384":       wireOf(keyTypeSKECDSA, "nistp384", make([]byte, 97), "ssh:"),
		"dss":                 wireOf("ssh-dss", "p", "q", "g", "y"),
		"rsa-sha2-256":        wireOf("rsa-sha2-256", []byte{3}, n),
		"mldsa":               wireOf("ssh-mldsa-44", make([]byte, 1312)),
		"empty":               nil,
		"type only":           wireOf(KeyTypeEd25519),
		"huge length":         {0xff, 0xff, 0xff, 0xff, 's'},
		"cert of unknown key": wireOf("ssh-dss-cert-v01@openssh.com", "nonce"),
	} {
		cases[name] = b
	}
	for name, b := range handmadeCerts() {
		cases[name] = b
	}
	return cases
}

// handmadeCerts are certificates x/crypto would not make: odd options,
// security-key signatures, certificate signers.
func handmadeCerts() map[string][]byte {
	keys := sampleKeys()
	edKey := keys["ed25519"][4+len(KeyTypeEd25519):] // the key's fields
	cert := func(crit, ext []byte, signer, sig []byte) []byte {
		return wireOf("ssh-ed25519-cert-v01@openssh.com", "nonce", raw(edKey), uint64(1), uint32(2), "id",
			wireOf("p1", "p2"), uint64(0), uint64(1<<62), crit, ext, "", signer, sig)
	}
	sig := wireOf(KeyTypeEd25519, make([]byte, 64))
	ed := keys["ed25519"]
	return map[string][]byte{
		"cert plain":                cert(nil, nil, ed, sig),
		"cert empty inner value":    cert(wireOf("a", wireOf("")), nil, ed, sig),
		"cert values":               cert(wireOf("a", "", "b", wireOf("v")), wireOf("x", wireOf("")), ed, sig),
		"cert unsorted options":     cert(wireOf("b", "", "a", ""), nil, ed, sig),
		"cert duplicate options":    cert(nil, wireOf("a", "", "a", ""), ed, sig),
		"cert value trailing":       cert(wireOf("a", raw(wireOf(wireOf("v"), raw{0}))), nil, ed, sig),
		"cert bad principals":       wireOf("ssh-ed25519-cert-v01@openssh.com", "nonce", raw(edKey), uint64(1), uint32(2), "id", []byte{0, 0, 0, 9}, uint64(0), uint64(1), "", "", "", ed, sig),
		"cert rsa signer":           cert(nil, nil, keys["rsa"], wireOf("rsa-sha2-512", "s")),
		"cert sk signature":         cert(nil, nil, keys["sk-ed25519"], wireOf(keyTypeSKEd25519, "s", raw{1, 0, 0, 0, 9})),
		"cert sk signature short":   cert(nil, nil, keys["sk-ed25519"], wireOf(keyTypeSKEd25519)),
		"cert signature trailing":   cert(nil, nil, ed, wireOf(KeyTypeEd25519, "s", raw{1})),
		"cert signed by cert":       cert(nil, nil, cert(nil, nil, ed, sig), sig),
		"cert signed by rsa-sha2":   cert(nil, nil, wireOf("rsa-sha2-256-cert-v01@openssh.com", "x"), sig),
		"cert signer trailing":      cert(nil, nil, append(bytes.Clone(ed), 0), sig),
		"cert signer padded rsa":    cert(nil, nil, rsaBlob([]byte{0, 3}, []byte{0, 0, 0x7f, 1}), sig),
		"cert trailing":             append(cert(nil, nil, ed, sig), 0),
		"cert rsa key padded":       wireOf("ssh-rsa-cert-v01@openssh.com", "n", raw(rsaBlob([]byte{0, 3}, []byte{0, 1, 2})[4+len(keyTypeRSA):]), uint64(1), uint32(2), "", "", uint64(0), uint64(1), "", "", "", ed, sig),
		"cert ecdsa wrong curve":    wireOf("ecdsa-sha2-nistp256-cert-v01@openssh.com", "n", "nistp384", "x", uint64(1), uint32(2), "", "", uint64(0), uint64(1), "", "", "", ed, sig),
		"cert sk-ecdsa":             wireOf("sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", "n", raw(keys["sk-ecdsa"][4+len(keyTypeSKECDSA):]), uint64(1), uint32(2), "", "", uint64(0), uint64(1), "", "", "", ed, sig),
		"cert nonce only":           wireOf("ssh-ed25519-cert-v01@openssh.com", "nonce"),
		"cert mldsa (unsupported)":  wireOf("ssh-mldsa-44-cert-v01@golang.org", "n", make([]byte, 1312)),
		"cert no signature":         wireOf("ssh-ed25519-cert-v01@openssh.com", "nonce", raw(edKey), uint64(1), uint32(2), "id", "", uint64(0), uint64(1), "", "", "", ed),
		"cert empty signature blob": cert(nil, nil, ed, nil),
	}
}

func TestKeyBlobMatchesOracle(t *testing.T) {
	for name, blob := range keyBlobCases(t) {
		checkKeyBlob(t, name, blob)
	}
}

// TestMpintMatchesOracle covers the integer encoding on every short
// two's-complement input, minimal or not.
func TestMpintMatchesOracle(t *testing.T) {
	n := bytes.Repeat([]byte{0x55}, 64)
	for length := 0; length <= 2; length++ {
		for v := 0; v < 1<<(8*length); v++ {
			b := make([]byte, length)
			for i := range b {
				b[i] = byte(v >> (8 * (length - 1 - i)))
			}
			checkKeyBlob(t, "n", rsaBlob([]byte{3}, append(bytes.Clone(b), n...)))
			checkKeyBlob(t, "n", rsaBlob([]byte{3}, b))
		}
	}
}
