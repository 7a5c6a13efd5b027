package auth

// Differential tests: golang.org/x/crypto/ssh, which auth used before it
// had its own encoders and known_hosts reader, is the reference here and
// in fuzz_test.go. It must stay a test-only dependency (see
// TestImportsOnlyStdlib).

import (
	"bytes"
	"crypto/ed25519"
	"encoding/pem"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// oracleComments are comments that move the private section's padding
// through every length and include bytes a text format could trip on.
var oracleComments = []string{"", "a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg",
	"user@host", "with spaces and\ttab", "\xff\x00binary", strings.Repeat("x", 300)}

func TestPrivateKeyMatchesOracle(t *testing.T) {
	for _, comment := range oracleComments {
		id := mustIdentity(t, comment)
		ours, err := marshalOpenSSHPrivateKey(id.Private, comment)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := ssh.ParseRawPrivateKey(ours)
		if k, ok := raw.(*ed25519.PrivateKey); err != nil || !ok || !k.Equal(id.Private) {
			t.Errorf("ssh.ParseRawPrivateKey(ours, comment %q) = %T, %v; want our key", comment, raw, err)
		}
		block, err := ssh.MarshalPrivateKey(id.Private, comment)
		if err != nil {
			t.Fatal(err)
		}
		theirs := pem.EncodeToMemory(block)
		priv, gotComment, err := parseOpenSSHPrivateKey(theirs)
		if err != nil || !priv.Equal(id.Private) || gotComment != comment {
			t.Errorf("parseOpenSSHPrivateKey(oracle's, comment %q) = comment %q, %v; want the key", comment, gotComment, err)
		}
		if a, b := withoutCheckWords(t, ours), withoutCheckWords(t, theirs); !bytes.Equal(a, b) {
			t.Errorf("comment %q: our encoding differs from the oracle's beyond the check words:\n%x\n%x", comment, a, b)
		}
	}
}

// withoutCheckWords decodes an OpenSSH key file and zeroes the two random
// check words, the only bytes two encodings of one key may differ in.
func withoutCheckWords(t *testing.T, file []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(file)
	if block == nil {
		t.Fatalf("no PEM block in %q", file)
	}
	b := bytes.Clone(block.Bytes)
	// magic, "none", "none", "", nkeys, public key blob, section length.
	off := len(opensshMagic) + 8 + 8 + 4 + 4 + 4 + len(marshalPublicKey(make([]byte, 32))) + 4
	if len(b) < off+8 {
		t.Fatalf("key file body of %d bytes is too short", len(b))
	}
	clear(b[off : off+8])
	return b
}

func TestPublicEncodingsMatchOracle(t *testing.T) {
	for _, comment := range oracleComments[:9] {
		id := mustIdentity(t, comment)
		sshPub, err := ssh.NewPublicKey(id.Public)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := AuthorizedLine(id.Public, ""), strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(sshPub)), "\n"); got != want {
			t.Errorf("AuthorizedLine = %q, want %q", got, want)
		}
		if got, want := Fingerprint(id.Public), ssh.FingerprintSHA256(sshPub); got != want {
			t.Errorf("Fingerprint = %q, want %q", got, want)
		}
		if got, want := marshalPublicKey(id.Public), sshPub.Marshal(); !bytes.Equal(got, want) {
			t.Errorf("marshalPublicKey = %x, want %x", got, want)
		}
	}
}

// A key ssh-keygen generates now (not only the fixture) loads, with its
// comment, for every padding length.
func TestLoadIdentityMadeBySSHKeygen(t *testing.T) {
	keygen := sshKeygen(t)
	for _, comment := range oracleComments[:8] {
		path := t.TempDir() + "/id_ed25519"
		out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
		id, err := LoadIdentity(path)
		if err != nil {
			t.Fatalf("LoadIdentity(ssh-keygen's, comment %q): %v", comment, err)
		}
		pubLine, err := exec.Command(keygen, "-y", "-f", path).Output()
		if err != nil {
			t.Fatal(err)
		}
		if want := AuthorizedLine(id.Public, ""); !strings.HasPrefix(string(pubLine), want) || id.Comment != comment {
			t.Errorf("LoadIdentity = %q, comment %q; ssh-keygen -y says %q, comment %q", want, id.Comment, pubLine, comment)
		}
		if err := id.Verify(); err != nil {
			t.Errorf("Verify(ssh-keygen's key): %v", err)
		}
	}
}

// TestImportsOnlyStdlib keeps auth's own code free of other modules but
// golang.org/x/crypto/ssh and its agent package, which sshkeys.go uses
// for what rexec would otherwise write again: key formats of every type,
// passphrase-protected keys, SSH signatures and the ssh-agent protocol
// (docs/BENCHMARKS.md, "Start-up cost of x/crypto/ssh", measures what they
// add to each process). Anything else comes in only with a reason here.
func TestImportsOnlyStdlib(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == "golang.org/x/crypto/ssh" || path == "golang.org/x/crypto/ssh/agent" {
				continue
			}
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s; auth may import only the standard library", name, path)
			}
		}
	}
}
