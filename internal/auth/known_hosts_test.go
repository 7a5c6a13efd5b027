package auth

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh/knownhosts"
)

func TestKnownHostsCheck(t *testing.T) {
	dir := t.TempDir()
	kh := KnownHosts{Path: filepath.Join(dir, "known_hosts")}
	pinned, other, hashed := mustIdentity(t, ""), mustIdentity(t, ""), mustIdentity(t, "")
	if err := kh.Add([]string{"LocalHost:7022", "127.0.0.1:7022", "[::1]:7022", "plain.example:22"}, pinned.Public); err != nil {
		t.Fatal(err)
	}
	hashedLine := knownhosts.HashHostname("[hidden.example]:7022") + " " + AuthorizedLine(hashed.Public, "") + "\n"
	appendFile(kh.Path, hashedLine)
	tests := []struct {
		name string
		host string
		port int
		key  *Identity
		want string // "", "unknown" or "changed"
	}{
		{"name", "localhost", 7022, pinned, ""},
		{"name case", "LOCALHOST", 7022, pinned, ""},
		{"ipv4", "127.0.0.1", 7022, pinned, ""},
		{"ipv6", "::1", 7022, pinned, ""},
		{"ipv6 brackets", "[::1]", 7022, pinned, ""},
		{"port 22", "plain.example", 22, pinned, ""},
		{"hashed", "hidden.example", 7022, hashed, ""},
		{"other port", "localhost", 7023, pinned, "unknown"},
		{"port 22 not pinned", "localhost", 22, pinned, "unknown"},
		{"other host", "nowhere.example", 7022, pinned, "unknown"},
		{"changed name", "localhost", 7022, other, "changed"},
		{"changed ipv6", "::1", 7022, other, "changed"},
		{"changed hashed", "hidden.example", 7022, other, "changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := kh.Check(tt.host, tt.port, tt.key.Public)
			checkHostResult(t, kh, err, tt.want, tt.key, pinned)
		})
	}
}

// checkHostResult checks one KnownHosts.Check outcome.
func checkHostResult(t *testing.T, kh KnownHosts, err error, want string, got, pinned *Identity) {
	t.Helper()
	var unknown *UnknownHostError
	var changed *HostKeyChangedError
	switch want {
	case "":
		if err != nil {
			t.Errorf("Check = %v, want nil", err)
		}
	case "unknown":
		if !errors.As(err, &unknown) || unknown.Got != Fingerprint(got.Public) ||
			!strings.HasPrefix(err.Error(), "auth: unknown host key for ") {
			t.Errorf("Check = %v, want *UnknownHostError", err)
		}
	case "changed":
		if !errors.As(err, &changed) || changed.Got != Fingerprint(got.Public) || len(changed.Want) != 1 ||
			!strings.HasPrefix(changed.Lines[0], kh.Path+":") {
			t.Fatalf("Check = %#v, want *HostKeyChangedError", err)
		}
		if msg := err.Error(); !strings.Contains(msg, changed.Got) || !strings.Contains(msg, changed.Want[0]) {
			t.Errorf("HostKeyChangedError.Error() = %q, want both fingerprints", msg)
		}
	}
}

func TestKnownHostsChangedDetails(t *testing.T) {
	kh := KnownHosts{Path: filepath.Join(t.TempDir(), "known_hosts")}
	a, b, c := mustIdentity(t, ""), mustIdentity(t, ""), mustIdentity(t, "")
	kh.Add([]string{"h.example:7022"}, a.Public)
	kh.Add([]string{"other.example:7022"}, c.Public)
	kh.Add([]string{"h.example:7022"}, b.Public)
	var changed *HostKeyChangedError
	if err := kh.Check("h.example", 7022, c.Public); !errors.As(err, &changed) {
		t.Fatalf("Check = %v, want *HostKeyChangedError", err)
	}
	want := &HostKeyChangedError{
		Host:  "h.example:7022",
		Want:  []string{Fingerprint(a.Public), Fingerprint(b.Public)},
		Got:   Fingerprint(c.Public),
		Lines: []string{kh.Path + ":1", kh.Path + ":3"},
	}
	if !reflect.DeepEqual(changed, want) {
		t.Errorf("Check = %+v, want %+v", changed, want)
	}
}

func TestKnownHostsMissingAndBad(t *testing.T) {
	dir := t.TempDir()
	id := mustIdentity(t, "")
	var unknown *UnknownHostError
	for _, kh := range []KnownHosts{{}, {Path: filepath.Join(dir, "missing")}} {
		err := kh.Check("::1", 7022, id.Public)
		if !errors.As(err, &unknown) || unknown.Host != "[::1]:7022" {
			t.Errorf("KnownHosts{%q}.Check = %v, want unknown [::1]:7022", kh.Path, err)
		}
	}
	bad := KnownHosts{Path: filepath.Join(dir, "bad")}
	os.WriteFile(bad.Path, []byte("this is not a known_hosts line\n"), 0o600)
	if err := bad.Check("h", 7022, id.Public); err == nil || errors.As(err, &unknown) {
		t.Errorf("Check(garbage file) = %v, want a read error", err)
	}
	revoked := KnownHosts{Path: filepath.Join(dir, "revoked")}
	os.WriteFile(revoked.Path, []byte("@revoked * "+AuthorizedLine(id.Public, "")+"\n"), 0o600)
	if err := revoked.Check("h", 7022, id.Public); !errors.Is(err, ErrHostKeyRevoked) {
		t.Errorf("Check(revoked) = %v, want ErrHostKeyRevoked", err)
	}
}

func TestKnownHostsAdd(t *testing.T) {
	dir := t.TempDir()
	kh := KnownHosts{Path: filepath.Join(dir, "known_hosts")}
	id := mustIdentity(t, "")
	if err := kh.Add([]string{"Example.COM:22", "example.com:7022", "[2001:db8::1]:7022", "::1", "10.0.0.1"}, id.Public); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(kh.Path)
	want := "example.com,[example.com]:7022,[2001:db8::1]:7022,::1,10.0.0.1 " + AuthorizedLine(id.Public, "") + "\n"
	if string(data) != want {
		t.Errorf("known_hosts = %q, want %q", data, want)
	}
	if fi, _ := os.Stat(kh.Path); fi.Mode().Perm() != 0o600 {
		t.Errorf("known_hosts mode = %04o, want 0600", fi.Mode().Perm())
	}
	for _, bad := range [][]string{nil, {"h:0"}, {"h:99999"}, {"h:x"}, {":7022"}, {"a,b:7022"}} {
		if err := kh.Add(bad, id.Public); err == nil {
			t.Errorf("Add(%q) = nil, want error", bad)
		}
	}
	if err := kh.Add([]string{"h:1"}, id.Public[:5]); !errors.Is(err, ErrMalformedKey) {
		t.Errorf("Add(short key) = %v, want ErrMalformedKey", err)
	}
}

func TestKnownHostsReadableBySSHKeygen(t *testing.T) {
	keygen := sshKeygen(t)
	kh := KnownHosts{Path: filepath.Join(t.TempDir(), "known_hosts")}
	id := mustIdentity(t, "")
	kh.Add([]string{"localhost:7022", "[::1]:7022"}, id.Public)
	for _, host := range []string{"[localhost]:7022", "[::1]:7022"} {
		out, err := exec.Command(keygen, "-F", host, "-f", kh.Path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), AuthorizedLine(id.Public, "")) {
			t.Errorf("ssh-keygen -F %s = %q, %v; want our line", host, out, err)
		}
	}
}

// ssh-keygen -H hashes a file Add wrote; for every address, ssh-keygen -F
// finds an entry exactly when Check knows the host, and Check accepts the
// key it finds.
func TestKnownHostsHashedBySSHKeygen(t *testing.T) {
	keygen := sshKeygen(t)
	kh := KnownHosts{Path: filepath.Join(t.TempDir(), "known_hosts")}
	a, b := mustIdentity(t, ""), mustIdentity(t, "")
	if err := kh.Add([]string{"host.example:22", "localhost:7022", "[::1]:7022", "10.0.0.1:2222"}, a.Public); err != nil {
		t.Fatal(err)
	}
	if err := kh.Add([]string{"other.example:7022"}, b.Public); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(keygen, "-H", "-f", kh.Path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -H: %v: %s", err, out)
	}
	data, _ := os.ReadFile(kh.Path)
	if n := strings.Count(string(data), "|1|"); n != 5 {
		t.Fatalf("ssh-keygen -H wrote %d hashed entries, want 5:\n%s", n, data)
	}
	for _, addr := range []struct {
		host string
		port int
	}{{"host.example", 22}, {"host.example", 7022}, {"localhost", 7022}, {"localhost", 22}, {"::1", 7022},
		{"10.0.0.1", 2222}, {"10.0.0.1", 22}, {"other.example", 7022}, {"nowhere.example", 22}} {
		query := addr.host
		if addr.port != 22 {
			query = "[" + addr.host + "]:" + strconv.Itoa(addr.port)
		}
		out, err := exec.Command(keygen, "-F", query, "-f", kh.Path).Output()
		keygenFound := err == nil && len(out) > 0
		var pinned *Identity
		switch {
		case strings.Contains(string(out), AuthorizedLine(a.Public, "")):
			pinned = a
		case strings.Contains(string(out), AuthorizedLine(b.Public, "")):
			pinned = b
		}
		var unknown *UnknownHostError
		checkErr := kh.Check(addr.host, addr.port, mustIdentity(t, "").Public)
		if weFound := !errors.As(checkErr, &unknown); weFound != keygenFound {
			t.Errorf("%s: ssh-keygen -F found %v (%q), Check says %v", query, keygenFound, out, checkErr)
		}
		if keygenFound && (pinned == nil || kh.Check(addr.host, addr.port, pinned.Public) != nil) {
			t.Errorf("%s: Check refuses the key ssh-keygen -F finds (%q)", query, out)
		}
	}
}

// For keys of other types pinned beside ours, HostKeyChangedError names
// the fingerprints `ssh-keygen -lf known_hosts` prints.
func TestKnownHostsFingerprintsMatchSSHKeygen(t *testing.T) {
	keygen := sshKeygen(t)
	dir := t.TempDir()
	kh := KnownHosts{Path: filepath.Join(dir, "known_hosts")}
	var file strings.Builder
	for _, typ := range [][]string{{"-t", "rsa", "-b", "2048"}, {"-t", "ecdsa", "-b", "384"}, {"-t", "ed25519"}} {
		path := filepath.Join(dir, "id_"+typ[1])
		args := append([]string{"-q", "-N", "", "-C", "", "-f", path}, typ...)
		if out, err := exec.Command(keygen, args...).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen %q: %v: %s", args, err, out)
		}
		pub, err := os.ReadFile(path + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		file.WriteString("h.example " + string(pub))
	}
	os.WriteFile(kh.Path, []byte(file.String()), 0o600)
	var changed *HostKeyChangedError
	if err := kh.Check("h.example", 22, mustIdentity(t, "").Public); !errors.As(err, &changed) {
		t.Fatalf("Check = %v, want *HostKeyChangedError", err)
	}
	out, err := exec.Command(keygen, "-lf", kh.Path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			want = append(want, f[1])
		}
	}
	if !reflect.DeepEqual(changed.Want, want) {
		t.Errorf("HostKeyChangedError.Want = %q, ssh-keygen -lf prints %q", changed.Want, want)
	}
}

func TestKnownHostsLimits(t *testing.T) {
	dir := t.TempDir()
	id := mustIdentity(t, "")
	good := "h " + AuthorizedLine(id.Public, "") + "\n"
	tests := []struct {
		name string
		data string
		ok   bool
	}{
		{"at size limit", good + "#" + strings.Repeat("x", maxKnownHostsLine-2) + "\n" +
			strings.Repeat("#\n", (maxKnownHostsSize-len(good)-maxKnownHostsLine)/2), true},
		{"over size limit", good + strings.Repeat("#\n", (maxKnownHostsSize-len(good))/2+1), false},
		{"longest line", good + "#" + strings.Repeat("x", maxKnownHostsLine-2) + "\n", true},
		{"line too long", good + "#" + strings.Repeat("x", maxKnownHostsLine-1) + "\n", false},
	}
	for _, tt := range tests {
		kh := KnownHosts{Path: filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))}
		os.WriteFile(kh.Path, []byte(tt.data), 0o600)
		err := kh.Check("h", 22, id.Public)
		if (err == nil) != tt.ok {
			t.Errorf("%s (%d bytes): Check = %v, want ok %v", tt.name, len(tt.data), err, tt.ok)
		}
	}
}

// A @cert-authority line never accepts a plain host key, even its own,
// and the host it names is known: another key is a change, not news.
func TestKnownHostsCertAuthority(t *testing.T) {
	kh := KnownHosts{Path: filepath.Join(t.TempDir(), "known_hosts")}
	ca, pinned := mustIdentity(t, ""), mustIdentity(t, "")
	os.WriteFile(kh.Path, []byte("@cert-authority *.example "+AuthorizedLine(ca.Public, "")+"\n"+
		"b.example "+AuthorizedLine(pinned.Public, "")+"\n"), 0o600)
	var changed *HostKeyChangedError
	if err := kh.Check("a.example", 22, ca.Public); !errors.As(err, &changed) || len(changed.Want) != 1 {
		t.Errorf("Check(CA key) = %v, want HostKeyChangedError naming the CA line", err)
	}
	if err := kh.Check("b.example", 22, pinned.Public); err != nil {
		t.Errorf("Check(pinned key under a CA line) = %v, want nil", err)
	}
}

func TestHostGlob(t *testing.T) {
	tests := []struct {
		pat, host string
		want      bool
	}{
		{"", "", true}, {"*", "", false}, {"*", "a", true}, {"a*", "a", false}, {"a*", "ab", true},
		{"*a", "a", true}, {"x*y", "xy", true}, {"a**", "a", false}, {"?", "é"[:1], true}, {"?", "é", false},
		{"*.example", ".example", true}, {"*.example", "h.example", true}, {"H", "h", false},
		{"*a*a*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 200), false},
	}
	for _, tt := range tests {
		if got := hostGlob(tt.pat, tt.host); got != tt.want {
			t.Errorf("hostGlob(%q, %q) = %v, want %v", tt.pat, tt.host, got, tt.want)
		}
	}
}
