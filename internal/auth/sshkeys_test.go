package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// writeKey writes priv as an OpenSSH private key file, encrypted when
// pass is not empty, and returns its path.
func writeKey(t *testing.T, priv crypto.PrivateKey, pass string, mode os.FileMode) string {
	t.Helper()
	var block *pem.Block
	var err error
	if pass == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(pass))
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadKeyFile(t *testing.T) {
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	shortRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	tests := []struct {
		name      string
		priv      crypto.PrivateKey
		pass      string
		mode      os.FileMode
		wantErr   error
		wantType  string
		fastPath  bool // an Identity: the certificate's own key
		encrypted bool
	}{
		{"ed25519", edKey, "", 0o600, nil, ssh.KeyAlgoED25519, true, false},
		{"ed25519 with a passphrase", edKey, "secret pass", 0o600, nil, ssh.KeyAlgoED25519, false, true},
		{"ecdsa", ecKey, "", 0o600, nil, ssh.KeyAlgoECDSA384, false, false},
		{"ecdsa with a passphrase", ecKey, "pw", 0o600, nil, ssh.KeyAlgoECDSA384, false, true},
		{"rsa", rsaKey, "", 0o600, nil, ssh.KeyAlgoRSA, false, false},
		{"rsa of 1024 bits", shortRSA, "", 0o600, ErrUnsupportedKey, "", false, false},
		{"readable by others", edKey, "", 0o644, ErrKeyPermissions, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeKey(t, tt.priv, tt.pass, tt.mode)
			kf, err := ReadKeyFile(path)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ReadKeyFile = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if kf.Public.Type() != tt.wantType || kf.Encrypted() != tt.encrypted {
				t.Fatalf("ReadKeyFile: type %s encrypted %v", kf.Public.Type(), kf.Encrypted())
			}
			if _, ok := kf.Ed25519(); ok != tt.fastPath {
				t.Errorf("Ed25519() ok = %v, want %v", ok, tt.fastPath)
			}
			if tt.encrypted {
				if _, err := kf.Decrypt([]byte("wrong")); !errors.Is(err, ErrBadPassphrase) {
					t.Errorf("Decrypt(wrong) = %v, want ErrBadPassphrase", err)
				}
			}
			signer, err := kf.Decrypt([]byte(tt.pass))
			if err != nil {
				t.Fatalf("Decrypt = %v", err)
			}
			data := []byte("proof data")
			sig, err := SignProof(signer, data)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyProof(kf.Public, data, sig); err != nil {
				t.Errorf("VerifyProof of a good proof = %v", err)
			}
			if err := VerifyProof(kf.Public, []byte("other data"), sig); err == nil {
				t.Error("VerifyProof accepted a proof of other data")
			}
		})
	}
}

// FuzzVerifyProof: no signature bytes panic the verifier, and only the
// real signature verifies.
func FuzzVerifyProof(f *testing.F) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	data := []byte("data")
	good, _ := SignProof(signer, data)
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte("\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, sig []byte) {
		if err := VerifyProof(signer.PublicKey(), data, sig); err == nil && string(sig) != string(good) {
			t.Fatalf("VerifyProof accepted %x", sig)
		}
	})
}

// FuzzParseOfferedKey: no key blob panics the parser, and what it
// accepts re-encodes to a key of a type rexec uses.
func FuzzParseOfferedKey(f *testing.F) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := ssh.NewPublicKey(&ecKey.PublicKey)
	f.Add(pub.Marshal())
	f.Add(marshalPublicKey(make(ed25519.PublicKey, 32)))
	f.Fuzz(func(t *testing.T, blob []byte) {
		k, err := ParseOfferedKey(blob)
		if err != nil {
			return
		}
		if !offerable[k.Type()] {
			t.Fatalf("accepted a %s key", k.Type())
		}
	})
}

var userKeyLines = []struct {
	name, line, err string
}{
	{"ed25519", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIACxDCTm6btFG5scEJqUrol4vLUvkgI2VBdgklO5K1iO test", ""},
	{"rsa", "", ""}, // filled from testdata/id_rsa.pub
	{"options", `no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIACxDCTm6btFG5scEJqUrol4vLUvkgI2VBdgklO5K1iO`, "unsupported key type"},
	{"dsa", "ssh-dss AAAAB3NzaC1kc3MAAACBAP1 x", "unsupported key type"},
	{"type mismatch", "ecdsa-sha2-nistp256 AAAAC3NzaC1lZDI1NTE5AAAAIACxDCTm6btFG5scEJqUrol4vLUvkgI2VBdgklO5K1iO", "line says"},
	{"two lines", "ssh-ed25519 AAAA\nssh-ed25519 AAAA", "single line"},
	{"bad base64", "ssh-rsa !!!", "base64"},
}

// TestParseUserKeyLine and AppendAuthorizedBlob: the .pub of an ssh
// user's key (rexec authorize) is added once, in the line format sshd
// reads, and found by LookupBlob.
func TestParseUserKeyLine(t *testing.T) {
	rsaPub, err := os.ReadFile(filepath.Join("testdata", "id_rsa.pub"))
	if err != nil {
		t.Fatal(err)
	}
	userKeyLines[1].line = string(rsaPub)
	path := filepath.Join(t.TempDir(), "authorized_keys")
	for _, tc := range userKeyLines {
		t.Run(tc.name, func(t *testing.T) {
			blob, _, err := ParseUserKeyLine([]byte(tc.line))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseUserKeyLine = %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range []bool{true, false} {
				added, err := AppendAuthorizedBlob(path, blob, "c")
				if err != nil || added != want {
					t.Fatalf("append %d = %v, %v; want %v", i, added, err, want)
				}
			}
			keys, _, err := LoadAuthorizedKeys(path, StrictModes{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := keys.LookupBlob(blob, nil); err != nil {
				t.Fatalf("the appended key is not found: %v", err)
			}
		})
	}
}

// FuzzParseUserKeyLine: no line panics the parser, and what it accepts
// is a key of a type rexec authorizes.
func FuzzParseUserKeyLine(f *testing.F) {
	for _, tc := range userKeyLines {
		f.Add(tc.line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		blob, _, err := ParseUserKeyLine([]byte(line))
		if err != nil {
			return
		}
		if _, err := ParseOfferedKey(blob); err != nil {
			t.Fatalf("accepted a key ParseOfferedKey refuses: %v", err)
		}
	})
}
