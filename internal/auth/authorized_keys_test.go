package auth

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// fixtureB64 is the base64 field of testdata/id_ed25519.pub.
const fixtureB64 = "AAAAC3NzaC1lZDI1NTE5AAAAIACxDCTm6btFG5scEJqUrol4vLUvkgI2VBdgklO5K1iO"

// authorizedLineTests are single authorized_keys lines; they seed
// FuzzParseAuthorizedKeys too. warn is a substring of the warning, "" for
// a valid line.
var authorizedLineTests = []struct {
	name    string
	line    string
	opts    KeyOptions
	comment string
	warn    string
}{
	{"bare", "ssh-ed25519 " + fixtureB64 + " me@host", KeyOptions{}, "me@host", ""},
	{"no comment", "ssh-ed25519 " + fixtureB64, KeyOptions{}, "", ""},
	{"command quoted", `command="echo \"hi there\", ok" ssh-ed25519 ` + fixtureB64 + " c",
		KeyOptions{Command: `echo "hi there", ok`, HasCommand: true, NoFileTransfer: true}, "c", ""},
	{"empty command", `command="" ssh-ed25519 ` + fixtureB64,
		KeyOptions{Command: "", HasCommand: true, NoFileTransfer: true}, "", ""},
	{"backslash kept", `command="a\\b\n" ssh-ed25519 ` + fixtureB64,
		KeyOptions{Command: `a\\b\n`, HasCommand: true, NoFileTransfer: true}, "", ""},
	{"command with file-transfer", `command="x",file-transfer ssh-ed25519 ` + fixtureB64,
		KeyOptions{Command: "x", HasCommand: true}, "", ""},
	{"allow with file-transfer", `file-transfer,allow="x" ssh-ed25519 ` + fixtureB64,
		KeyOptions{Allow: []string{"x"}}, "", ""},
	{"restrict", "restrict ssh-ed25519 " + fixtureB64,
		KeyOptions{Restrict: true, NoPTY: true, NoFileTransfer: true}, "", ""},
	{"restrict pty", "restrict,pty ssh-ed25519 " + fixtureB64,
		KeyOptions{Restrict: true, NoFileTransfer: true}, "", ""},
	{"pty before restrict", "PTY,Restrict,file-transfer ssh-ed25519 " + fixtureB64,
		KeyOptions{Restrict: true}, "", ""},
	{"no-pty no-file-transfer", "no-pty,no-file-transfer ssh-ed25519 " + fixtureB64,
		KeyOptions{NoPTY: true, NoFileTransfer: true}, "", ""},
	{"from cidr and negation", `from="10.0.0.0/8,!10.1.2.3,::1/128,*.example.com" ssh-ed25519 ` + fixtureB64,
		KeyOptions{From: []string{"10.0.0.0/8", "!10.1.2.3", "::1/128", "*.example.com"}}, "", ""},
	{"environment repeated", `environment="A=1",environment="B=x y",environment="C=" ssh-ed25519 ` + fixtureB64,
		KeyOptions{Environment: []string{"A=1", "B=x y", "C="}}, "", ""},
	{"allow", `allow="ls *,uptime",allow="echo a\,b" ssh-ed25519 ` + fixtureB64,
		KeyOptions{Allow: []string{"ls *", "uptime", `echo a\,b`}, NoFileTransfer: true}, "", ""},
	{"ignored openssh options", `no-port-forwarding,no-agent-forwarding,no-X11-forwarding,permitopen="h:1" ssh-ed25519 ` + fixtureB64,
		KeyOptions{}, "", ""},
	{"tab separated", "no-pty\tssh-ed25519\t" + fixtureB64 + "\tcomment with\ttab",
		KeyOptions{NoPTY: true}, "comment with\ttab", ""},
	{"unknown option", "frobnicate ssh-ed25519 " + fixtureB64, KeyOptions{}, "", `unknown option "frobnicate"`},
	{"cert-authority", "cert-authority ssh-ed25519 " + fixtureB64, KeyOptions{}, "", "unknown option"},
	{"expiry-time", `expiry-time="20990101" ssh-ed25519 ` + fixtureB64, KeyOptions{}, "", "unknown option"},
	{"unterminated quote", `command="ls ssh-ed25519 ` + fixtureB64, KeyOptions{}, "", "closing quote"},
	{"unquoted value", `command=ls ssh-ed25519 ` + fixtureB64, KeyOptions{}, "", "double-quoted"},
	{"junk after value", `command="ls"x ssh-ed25519 ` + fixtureB64, KeyOptions{}, "", "after quoted value"},
	{"trailing comma", `no-pty, ssh-ed25519 ` + fixtureB64, KeyOptions{}, "", "trailing comma"},
	{"double command", `command="a",command="b" ssh-ed25519 ` + fixtureB64, KeyOptions{}, "", "multiple"},
	{"bad cidr", `from="10.0.0.0/33" ssh-ed25519 ` + fixtureB64, KeyOptions{}, "", "bad CIDR"},
	{"empty from", `from="" ssh-ed25519 ` + fixtureB64, KeyOptions{}, "", "empty pattern"},
	{"bad environment", `environment="NOVALUE" ssh-ed25519 ` + fixtureB64, KeyOptions{}, "", "invalid environment"},
	{"empty allow", `allow="ls,,x" ssh-ed25519 ` + fixtureB64, KeyOptions{}, "", "empty glob"},
	{"truncated rsa", "ssh-rsa AAAAB3NzaC1yc2EAAAABAw== rsa", KeyOptions{}, "", "malformed"},
	{"truncated rsa with options", "no-pty ssh-rsa AAAAB3NzaC1yc2EAAAABAw== rsa", KeyOptions{}, "", "malformed"},
	{"dsa", "ssh-dss AAAAB3NzaC1kc3MAAACBAP1/U4EddRIpUt9KnC7s5Of2EbdSPO9EAMMeP4C2USZpRV1AIlH7WT2NWPq/xfW6MPbLm1Vs14E7gB00b/JmYLdrmVClpJ+f6AR7ECLCT7up1/63xhv4O1fnxqimFQ8E+4P208UewwI1VBNaFpEy9nXzrith1yrv8iIDGZ3RSAHHAAAAFQCXYFCPFSMLzLKSuYKi64QL8Fgc9QAAAIEA9+GghdabPd7LvKtcNrhXuXmUr7v6OuqC+VdMCz0HgmdRWVeOutRZT+ZxBxCBgLRJFnEj6EwoFhO3zwkyjMim4TwWeotUfI0o4KOuHiuzpnWRbqN/C/ohNWLx+2J6ASQ7zKTxvqhRkImog9/hWuWfBpKLZl6Ae1UlZAFMO/7PSSoAAACBAJGx2n8nKeWPSgiANS7O0G1yr5iVdx3Ak7pXcfdMKhBkvdLXBdDhaB4DFJh0vvnp2r+VA4CG/gRjx8S+hNY1I7pDgqnTWp3ovgdjDtWmxX9tbqUmFqK+rzbIjdJtyXKwKfsWLUBqoYFCoC0QAd6d07E1kngT23JDXOJc6RdLChJi dsa", KeyOptions{}, "", "unsupported key type"},
	{"short rsa", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC0P4EddRIpUt9KnC7s5Of2EbdSPO9EAMMeP4C2USZpRV1AIlH7WT2NWPq/xfW6MPbLm1Vs14E7gB00b/JmYLdrmVClpJ+f6AR7ECLCT7up1/63xhv4O1fnxqimFQ8E+4P208UewwI1VBNaFpEy9nXzrith1yrv8iIDGZ3RSAHHAQ== short", KeyOptions{}, "", "at least 2048"},
	{"bad base64", "ssh-ed25519 !!!", KeyOptions{}, "", "base64"},
	{"no key", "no-pty", KeyOptions{}, "", "unknown key type"},
	{"key missing", "ssh-ed25519", KeyOptions{}, "", "malformed"},
}

func TestParseAuthorizedKeysLines(t *testing.T) {
	want := fixtureKey(t)
	for _, tt := range authorizedLineTests {
		t.Run(tt.name, func(t *testing.T) {
			keys, warnings := ParseAuthorizedKeys([]byte("# comment\n\n" + tt.line + "\n"))
			if tt.warn != "" {
				if len(keys.Keys) != 0 || len(warnings) != 1 || !strings.Contains(warnings[0], tt.warn) ||
					!strings.HasPrefix(warnings[0], "line 3: ") {
					t.Errorf("Parse(%q) = %d keys, warnings %q; want none and a line 3 warning with %q", tt.line, len(keys.Keys), warnings, tt.warn)
				}
				return
			}
			if len(keys.Keys) != 1 || len(warnings) != 0 {
				t.Fatalf("Parse(%q) = %d keys, warnings %q; want 1 key", tt.line, len(keys.Keys), warnings)
			}
			k := keys.Keys[0]
			if !k.Key.Equal(want) || k.Comment != tt.comment || k.Line != 3 || !reflect.DeepEqual(k.Options, tt.opts) {
				t.Errorf("Parse(%q) = %+v, want options %+v comment %q line 3", tt.line, k, tt.opts, tt.comment)
			}
		})
	}
}

func TestParseAuthorizedKeysFile(t *testing.T) {
	rsaPub, err := os.ReadFile(filepath.Join("testdata", "id_rsa.pub"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := mustIdentity(t, "a"), mustIdentity(t, "b")
	data := string(rsaPub) + AuthorizedLine(a.Public, "a") + "\r\n  \n" + "garbage\n" + AuthorizedLine(b.Public, "b")
	keys, warnings := ParseAuthorizedKeys([]byte(data))
	if len(keys.Keys) != 3 || keys.Keys[1].Line != 2 || keys.Keys[2].Line != 5 || keys.Keys[1].Comment != "a" {
		t.Fatalf("Parse(file) = %+v, want rsa on line 1, a on line 2 and b on line 5", keys.Keys)
	}
	if rsa := keys.Keys[0]; rsa.Key != nil || rsa.Fingerprint() != "SHA256:bVUqRj0aaeXYItV2HoBPprR4nOw/FtIJRi5O5aj5EqQ" || rsa.Comment != "rsa" {
		t.Errorf("the RSA line = %+v (%s); want the fingerprint ssh-keygen -l prints", rsa, rsa.Fingerprint())
	}
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "line 4: ") {
		t.Errorf("Parse(file) warnings = %q, want line 4", warnings)
	}
}

func TestLookup(t *testing.T) {
	a, b, c := mustIdentity(t, "a"), mustIdentity(t, "b"), mustIdentity(t, "c")
	data := `from="192.0.2.0/24,!192.0.2.66" ` + AuthorizedLine(a.Public, "a-lan") + "\n" +
		`from="::1" ` + AuthorizedLine(a.Public, "a-local") + "\n" +
		AuthorizedLine(b.Public, "b") + "\n"
	keys, warnings := ParseAuthorizedKeys([]byte(data))
	if len(warnings) != 0 {
		t.Fatal(warnings)
	}
	tests := []struct {
		key     *Identity
		ip      string
		comment string
		wantErr error
	}{
		{a, "192.0.2.7", "a-lan", nil},
		{a, "::ffff:192.0.2.7", "a-lan", nil},
		{a, "::1", "a-local", nil},
		{a, "192.0.2.66", "", ErrFromRefused},
		{a, "198.51.100.1", "", ErrFromRefused},
		{b, "198.51.100.1", "b", nil},
		{c, "127.0.0.1", "", ErrNotAuthorized},
	}
	for _, tt := range tests {
		k, err := keys.Lookup(tt.key.Public, net.ParseIP(tt.ip))
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("Lookup(%s, %s) error = %v, want %v", tt.key.Comment, tt.ip, err, tt.wantErr)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), Fingerprint(tt.key.Public)) {
				t.Errorf("Lookup error %q does not name the fingerprint", err)
			}
			continue
		}
		if k.Comment != tt.comment {
			t.Errorf("Lookup(%s, %s) = %q, want %q", tt.key.Comment, tt.ip, k.Comment, tt.comment)
		}
	}
	var empty *AuthorizedKeys
	if _, err := empty.Lookup(a.Public, nil); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("nil.Lookup = %v, want ErrNotAuthorized", err)
	}
}

func TestLoadAuthorizedKeys(t *testing.T) {
	dir := t.TempDir()
	keys, warnings, err := LoadAuthorizedKeys(filepath.Join(dir, "missing"), StrictModes{UID: -1})
	if err != nil || len(keys.Keys) != 0 || warnings != nil {
		t.Errorf("LoadAuthorizedKeys(missing) = %v, %v, %v; want empty", keys, warnings, err)
	}
	path := filepath.Join(dir, "authorized_keys")
	os.WriteFile(path, []byte("ssh-ed25519 "+fixtureB64+" x\nbad\n"), 0o644)
	keys, warnings, err = LoadAuthorizedKeys(path, StrictModes{UID: -1})
	if err != nil || len(keys.Keys) != 1 || len(warnings) != 1 {
		t.Errorf("LoadAuthorizedKeys = %v, %v, %v; want 1 key and 1 warning", keys, warnings, err)
	}
	os.Chmod(path, 0o664)
	if _, _, err := LoadAuthorizedKeys(path, StrictModes{UID: -1}); runtime.GOOS != "windows" && !errors.Is(err, ErrKeyPermissions) {
		t.Errorf("LoadAuthorizedKeys(0664) = %v, want ErrKeyPermissions", err)
	}
}

func TestAppendAuthorizedKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "authorized_keys")
	a, b := mustIdentity(t, "a"), mustIdentity(t, "b")
	steps := []struct {
		id    *Identity
		want  bool
		lines int
	}{{a, true, 1}, {a, false, 1}, {b, true, 2}, {b, false, 2}}
	for i, s := range steps {
		added, err := AppendAuthorizedKey(path, s.id.Public, s.id.Comment)
		if err != nil || added != s.want {
			t.Fatalf("step %d: AppendAuthorizedKey = %v, %v; want %v", i, added, err, s.want)
		}
		keys, warnings, err := LoadAuthorizedKeys(path, StrictModes{UID: -1})
		if err != nil || len(keys.Keys) != s.lines || len(warnings) != 0 {
			t.Fatalf("step %d: reload = %v, %v, %v; want %d keys", i, keys, warnings, err, s.lines)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("authorized_keys mode = %04o, want 0600", fi.Mode().Perm())
	}
	// A file without a final newline and a key already present with options.
	path2 := filepath.Join(dir, "ak2")
	os.WriteFile(path2, []byte(`no-pty `+AuthorizedLine(a.Public, "")), 0o600)
	if added, err := AppendAuthorizedKey(path2, a.Public, "x"); added || err != nil {
		t.Errorf("AppendAuthorizedKey(present with options) = %v, %v; want false", added, err)
	}
	if added, err := AppendAuthorizedKey(path2, b.Public, "multi\nline"); !added || err != nil {
		t.Errorf("AppendAuthorizedKey(b) = %v, %v", added, err)
	}
	data, _ := os.ReadFile(path2)
	if want := "no-pty " + AuthorizedLine(a.Public, "") + "\n" + AuthorizedLine(b.Public, "multi line") + "\n"; string(data) != want {
		t.Errorf("file = %q, want %q", data, want)
	}
	if _, err := AppendAuthorizedKey(filepath.Join(dir, "no", "such"), a.Public, ""); err == nil {
		t.Errorf("AppendAuthorizedKey(missing dir) = nil error")
	}
}
