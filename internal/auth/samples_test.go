package auth

import (
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

// Security-key types, which known_hosts lines may carry.
const (
	keyTypeSKECDSA   = "sk-ecdsa-sha2-nistp256@openssh.com"
	keyTypeSKEd25519 = "sk-ssh-ed25519@openssh.com"
)

// wireOf builds an SSH wire encoding from its fields.
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
