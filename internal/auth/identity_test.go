package auth

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestLoadIdentityFixtures(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		mode    os.FileMode
		wantErr error
		wantMsg string
	}{
		{"ok", "id_ed25519", 0o600, nil, ""},
		{"ok 0400", "id_ed25519", 0o400, nil, ""},
		{"world readable", "id_ed25519", 0o644, ErrKeyPermissions, "0644"},
		{"group readable", "id_ed25519", 0o640, ErrKeyPermissions, "too open"},
		{"encrypted", "id_ed25519_encrypted", 0o600, ErrEncryptedKey, "passphrase"},
		{"rsa", "id_rsa", 0o600, ErrUnsupportedKey, `"ssh-rsa"`},
		{"ecdsa", "id_ecdsa", 0o600, ErrUnsupportedKey, `"ecdsa-sha2-nistp256"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantErr == ErrKeyPermissions && runtime.GOOS == "windows" {
				t.Skip("no Unix permission bits")
			}
			path := copyFixture(t, tt.fixture, tt.mode)
			id, err := LoadIdentity(path)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("LoadIdentity(%s) = %v, want %v", tt.fixture, err, tt.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), path) {
					t.Errorf("LoadIdentity error %q, want it to contain %q and the path", err, tt.wantMsg)
				}
				return
			}
			if id.Comment != "test" || !id.Public.Equal(id.Private.Public()) {
				t.Errorf("LoadIdentity = comment %q, want %q and a consistent pair", id.Comment, "test")
			}
		})
	}
}

func TestLoadIdentityMatchesPub(t *testing.T) {
	path := copyFixture(t, "id_ed25519", 0o600)
	id, err := LoadIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	pubData, err := os.ReadFile(filepath.Join("testdata", "id_ed25519.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := AuthorizedLine(id.Public, id.Comment)+"\n", string(pubData); got != want {
		t.Errorf("AuthorizedLine(loaded) = %q, want %q", got, want)
	}
}

func TestLoadIdentityComment(t *testing.T) {
	tests := []struct {
		name    string
		pub     func(id *Identity) string // "" = no .pub file
		want    string
		private string
	}{
		{"embedded only", func(*Identity) string { return "" }, "embedded", "embedded"},
		{"pub wins", func(id *Identity) string { return AuthorizedLine(id.Public, "from pub") + "\n" }, "from pub", "embedded"},
		{"pub of other key ignored", func(*Identity) string {
			return AuthorizedLine(mustIdentity(t, "").Public, "other") + "\n"
		}, "embedded", "embedded"},
		{"garbage pub ignored", func(*Identity) string { return "nonsense\n" }, "embedded", "embedded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := mustIdentity(t, tt.private)
			path := filepath.Join(t.TempDir(), "id")
			if err := id.WriteFiles(path); err != nil {
				t.Fatal(err)
			}
			os.Remove(path + ".pub")
			if pub := tt.pub(id); pub != "" {
				os.WriteFile(path+".pub", []byte(pub), 0o644)
			}
			got, err := LoadIdentity(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.Comment != tt.want {
				t.Errorf("LoadIdentity comment = %q, want %q", got.Comment, tt.want)
			}
		})
	}
}

func TestLoadIdentityErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"), 0o600)
	notPEM := filepath.Join(dir, "notpem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, maxKeyFileSize+1), 0o600)
	tests := []struct {
		path string
		want error
	}{
		{filepath.Join(dir, "missing"), fs.ErrNotExist},
		{garbage, ErrMalformedKey},
		{notPEM, ErrMalformedKey},
		{big, ErrMalformedKey},
		{dir, ErrMalformedKey},
	}
	for _, tt := range tests {
		if _, err := LoadIdentity(tt.path); !errors.Is(err, tt.want) {
			t.Errorf("LoadIdentity(%s) = %v, want %v", filepath.Base(tt.path), err, tt.want)
		}
	}
}

func TestLoadIdentityOtherOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	path := copyFixture(t, "id_ed25519", 0o600)
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Skip(err)
	}
	_, err := LoadIdentity(path)
	if !errors.Is(err, ErrKeyPermissions) || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Errorf("LoadIdentity(owned by 65534) = %v, want ErrKeyPermissions naming the owner", err)
	}
}

func TestWriteFilesRoundTrip(t *testing.T) {
	id := mustIdentity(t, "alice@example")
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := id.WriteFiles(path); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, path + ".pub": 0o644} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&^want != 0 || got&0o600 != 0o600 {
			t.Errorf("mode of %s = %04o, want %04o (less umask)", filepath.Base(p), got, want)
		}
	}
	got, err := LoadIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Private.Equal(id.Private) || !got.Public.Equal(id.Public) || got.Comment != id.Comment {
		t.Errorf("LoadIdentity(WriteFiles(id)) = %+v, want %+v", got, id)
	}
	if err := id.WriteFiles(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second WriteFiles = %v, want fs.ErrExist", err)
	}
	if again, _ := LoadIdentity(path); again == nil || !again.Public.Equal(id.Public) {
		t.Errorf("second WriteFiles changed the key")
	}
}

func TestWriteFilesAcceptedBySSHKeygen(t *testing.T) {
	keygen := sshKeygen(t)
	id := mustIdentity(t, "rexec test")
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := id.WriteFiles(path); err != nil {
		t.Fatal(err)
	}
	want := "256 " + Fingerprint(id.Public) + " rexec test (ED25519)\n"
	for _, f := range []string{path, path + ".pub"} {
		out, err := exec.Command(keygen, "-l", "-f", f).CombinedOutput()
		if err != nil || string(out) != want {
			t.Errorf("ssh-keygen -l -f %s = %q, %v; want %q", filepath.Base(f), out, err, want)
		}
	}
	// -y re-derives the public key from the private one: proves the
	// private section itself is well-formed for OpenSSH.
	out, err := exec.Command(keygen, "-y", "-f", path).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), AuthorizedLine(id.Public, "")) {
		t.Errorf("ssh-keygen -y -f = %q, %v; want %q", out, err, AuthorizedLine(id.Public, ""))
	}
}

func TestEnsureIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "id_ed25519")
	first, created, err := EnsureIdentity(path, "c")
	if err != nil || !created {
		t.Fatalf("EnsureIdentity(new) = %v, %v; want created", created, err)
	}
	second, created, err := EnsureIdentity(path, "ignored")
	if err != nil || created || !second.Public.Equal(first.Public) || second.Comment != "c" {
		t.Fatalf("EnsureIdentity(existing) = %v, %v, %v; want the same key, not created", second, created, err)
	}
	os.Chmod(path, 0o644)
	if _, _, err := EnsureIdentity(path, "c"); runtime.GOOS != "windows" && !errors.Is(err, ErrKeyPermissions) {
		t.Errorf("EnsureIdentity(0644) = %v, want ErrKeyPermissions", err)
	}
	if _, _, err := EnsureIdentity(filepath.Join(path, "x", "y"), "c"); err == nil {
		t.Errorf("EnsureIdentity(bad dir) = nil error")
	}
}

// A key file whose public half is consistent but whose seed was altered
// loads (LoadIdentity defers the expensive check) and is refused by
// Verify, which every signer calls first.
func TestVerifyCatchesAlteredSeed(t *testing.T) {
	id, err := GenerateIdentity("seed")
	if err != nil {
		t.Fatal(err)
	}
	if err := id.Verify(); err != nil {
		t.Fatalf("Verify of a fresh identity: %v", err)
	}
	bad := bytes.Clone(id.Private)
	bad[0] ^= 1
	data, err := marshalOpenSSHPrivateKey(bad, "seed")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadIdentity(path)
	if err != nil {
		t.Fatalf("LoadIdentity: %v", err)
	}
	if !loaded.Public.Equal(id.Public) {
		t.Fatalf("public key = %x, want %x", loaded.Public, id.Public)
	}
	if err := loaded.Verify(); !errors.Is(err, ErrMalformedKey) {
		t.Fatalf("Verify = %v, want ErrMalformedKey", err)
	}
}
