package auth

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureKey is the public key of testdata/id_ed25519.
func fixtureKey(t testing.TB) ed25519.PublicKey {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "id_ed25519.pub"))
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := ParsePublicKeyLine(data)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestFingerprintGolden(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join("testdata", "id_ed25519.fingerprint"))
	if err != nil {
		t.Fatal(err)
	}
	want := "256 " + Fingerprint(fixtureKey(t)) + " test (ED25519)\n"
	if string(golden) != want {
		t.Errorf("Fingerprint(fixture) line = %q, want golden %q", want, golden)
	}
	keygen := sshKeygen(t)
	out, err := exec.Command(keygen, "-lf", filepath.Join("testdata", "id_ed25519.pub")).Output()
	if err != nil || string(out) != want {
		t.Errorf("live ssh-keygen -lf = %q, %v; want %q", out, err, want)
	}
}

// pubLineTests seed FuzzParsePublicKeyLine too.
var pubLineTests = []struct {
	name    string
	line    string
	comment string
	wantErr error
}{
	{"plain", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIACxDCTm6btFG5scEJqUrol4vLUvkgI2VBdgklO5K1iO test\n", "test", nil},
	{"no comment", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIACxDCTm6btFG5scEJqUrol4vLUvkgI2VBdgklO5K1iO", "", nil},
	{"spaces in comment", "ssh-ed25519\tAAAAC3NzaC1lZDI1NTE5AAAAIACxDCTm6btFG5scEJqUrol4vLUvkgI2VBdgklO5K1iO  a b  c \r\n", "a b  c", nil},
	{"rsa", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ x", "", ErrUnsupportedKey},
	{"type mismatch", "ssh-ed25519 AAAAB3NzaC1yc2EAAAABAw== x", "", ErrUnsupportedKey},
	{"bad base64", "ssh-ed25519 AAAA!!!! x", "", ErrMalformedKey},
	{"short key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAAQA= x", "", ErrMalformedKey},
	{"empty", "", "", ErrMalformedKey},
	{"type only", "ssh-ed25519", "", ErrMalformedKey},
	{"two lines", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIACxDCTm6btFG5scEJqUrol4vLUvkgI2VBdgklO5K1iO a\nssh-ed25519 AAAA b", "", ErrMalformedKey},
	{"options", `no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIACxDCTm6btFG5scEJqUrol4vLUvkgI2VBdgklO5K1iO`, "", ErrUnsupportedKey},
}

func TestParsePublicKeyLine(t *testing.T) {
	for _, tt := range pubLineTests {
		t.Run(tt.name, func(t *testing.T) {
			pub, comment, err := ParsePublicKeyLine([]byte(tt.line))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParsePublicKeyLine(%q) error = %v, want %v", tt.line, err, tt.wantErr)
			}
			if err == nil && (comment != tt.comment || !pub.Equal(fixtureKey(t))) {
				t.Errorf("ParsePublicKeyLine(%q) = %x, %q; want fixture key, %q", tt.line, pub, comment, tt.comment)
			}
		})
	}
}

func TestAuthorizedLineRoundTrip(t *testing.T) {
	for _, comment := range []string{"", "c", "user@host with spaces"} {
		id := mustIdentity(t, comment)
		line := AuthorizedLine(id.Public, comment)
		if comment == "" && strings.HasSuffix(line, " ") {
			t.Errorf("AuthorizedLine(empty comment) = %q, has trailing space", line)
		}
		pub, c, err := ParsePublicKeyLine([]byte(line))
		if err != nil || !pub.Equal(id.Public) || c != comment {
			t.Errorf("ParsePublicKeyLine(AuthorizedLine(k, %q)) = %q, %v", comment, c, err)
		}
	}
}

func TestParsePublicKeyLineTooLong(t *testing.T) {
	line := bytes.Repeat([]byte("a"), maxPublicKeyLine+1)
	if _, _, err := ParsePublicKeyLine(line); !errors.Is(err, ErrMalformedKey) {
		t.Errorf("ParsePublicKeyLine(huge) = %v, want ErrMalformedKey", err)
	}
}
