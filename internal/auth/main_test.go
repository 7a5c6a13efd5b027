package auth

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// copyFixture copies testdata/name (and name.pub if present) into a temp
// dir with the given mode, since git does not keep file modes.
func copyFixture(t *testing.T, name string, mode os.FileMode) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	for _, suffix := range []string{"", ".pub"} {
		data, err := os.ReadFile(filepath.Join("testdata", name+suffix))
		if err != nil {
			if suffix == ".pub" {
				continue
			}
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+suffix, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dst, mode); err != nil {
		t.Fatal(err)
	}
	return dst
}

// sshKeygen returns the path of ssh-keygen, skipping the test without it.
func sshKeygen(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("ssh-keygen not on PATH")
	}
	return p
}

// mustIdentity generates an identity or fails the test.
func mustIdentity(t testing.TB, comment string) *Identity {
	t.Helper()
	id, err := GenerateIdentity(comment)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
