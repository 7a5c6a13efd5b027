package auth

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostVerdict is a known_hosts decision in a form both readers can give.
type hostVerdict struct {
	Kind  string   // "match", "unknown", "changed", "revoked" or "error"
	Lines []int    // changed: the pinned entries; revoked: the revoking line
	Want  []string // changed: the pinned keys' fingerprints
}

// ourVerdict runs KnownHosts.Check on the file at path.
func ourVerdict(path, host string, port int, key ed25519.PublicKey) hostVerdict {
	err := KnownHosts{Path: path}.Check(host, port, key)
	var unknown *UnknownHostError
	var changed *HostKeyChangedError
	switch {
	case err == nil:
		return hostVerdict{Kind: "match"}
	case errors.As(err, &unknown):
		return hostVerdict{Kind: "unknown"}
	case errors.As(err, &changed):
		v := hostVerdict{Kind: "changed", Want: changed.Want}
		for _, l := range changed.Lines {
			v.Lines = append(v.Lines, lineNumber(l))
		}
		return v
	case errors.Is(err, ErrHostKeyRevoked):
		msg := strings.TrimSuffix(err.Error(), ")")
		return hostVerdict{Kind: "revoked", Lines: []int{lineNumber(msg)}}
	default:
		return hostVerdict{Kind: "error"}
	}
}

// lineNumber returns the N of "...:N", or -1.
func lineNumber(s string) int {
	n, err := strconv.Atoi(s[strings.LastIndexByte(s, ':')+1:])
	if err != nil {
		return -1
	}
	return n
}

// oracleVerdict asks x/crypto's knownhosts about data, called as auth
// called it before: with the address Check builds, as host name and
// remote address both.
//
// One difference is intended: knownhosts accepts a plain key equal to a
// @cert-authority line's key, and auth never does. So before asking, the
// key of such a line is swapped for another valid key (the line stays
// valid and keeps matching the same hosts), and the fingerprint reported
// for it is put back.
func oracleVerdict(t testing.TB, path string, data []byte, host string, port int, key ed25519.PublicKey) hostVerdict {
	t.Helper()
	data, swapped := swapCAKey(data, key)
	if len(swapped) > 0 {
		path += ".oracle"
		writeTestFile(t, path, data)
		defer os.Remove(path)
	}
	cb, err := knownhosts.New(path)
	if err != nil {
		return hostVerdict{Kind: "error"}
	}
	sshKey, err := ssh.NewPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	addr := joinHostPort(host, port)
	err = cb(addr, stubAddr(addr), sshKey)
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case err == nil:
		return hostVerdict{Kind: "match"}
	case errors.As(err, &keyErr) && len(keyErr.Want) == 0:
		return hostVerdict{Kind: "unknown"}
	case errors.As(err, &keyErr):
		v := hostVerdict{Kind: "changed"}
		for _, w := range keyErr.Want {
			fp := ssh.FingerprintSHA256(w.Key)
			if swapped[w.Line] {
				fp = Fingerprint(key)
			}
			v.Lines, v.Want = append(v.Lines, w.Line), append(v.Want, fp)
		}
		return v
	case errors.As(err, &revoked):
		return hostVerdict{Kind: "revoked", Lines: []int{revoked.Revoked.Line}}
	default:
		return hostVerdict{Kind: "error"}
	}
}

// swapCAKey replaces, in every @cert-authority line whose key is key,
// that key with another, and reports the lines changed.
func swapCAKey(data []byte, key ed25519.PublicKey) ([]byte, map[int]bool) {
	blob := marshalPublicKey(key)
	other := bytes.Clone(key)
	other[0] ^= 1
	swapped := map[int]bool{}
	lines := bytes.Split(data, []byte("\n"))
	for i, line := range lines {
		s := strings.Trim(strings.TrimSuffix(string(line), "\r"), " \t")
		f := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' })
		if len(f) < 4 || f[0] != markerCA || f[2] != KeyTypeEd25519 {
			continue
		}
		if b, err := base64.StdEncoding.DecodeString(f[3]); err == nil && bytes.Equal(b, blob) {
			lines[i] = []byte(strings.Join([]string{f[0], f[1], f[2], base64.StdEncoding.EncodeToString(marshalPublicKey(other))}, " "))
			swapped[i+1] = true
		}
	}
	return bytes.Join(lines, []byte("\n")), swapped
}

// writeTestFile writes data to path or fails the test.
func writeTestFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// stubAddr is the net.Addr knownhosts' callback wants.
type stubAddr string

func (a stubAddr) Network() string { return "tcp" }
func (a stubAddr) String() string  { return string(a) }

// khFileSeq names each compared file afresh, so that no cached parse of
// an earlier file with the same size and time can answer for it.
var khFileSeq atomic.Int64

// compareWithOracle checks one file, host, port and key with both
// readers, writing the file in dir.
func compareWithOracle(t testing.TB, dir string, data []byte, host string, port int, key ed25519.PublicKey) {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("known_hosts.%d", khFileSeq.Add(1)))
	writeTestFile(t, path, data)
	defer os.Remove(path)
	defer knownHostsCache.Delete(path)
	got := ourVerdict(path, host, port, key)
	want := oracleVerdict(t, path, data, host, port, key)
	if got.Kind != want.Kind || !slices.Equal(got.Lines, want.Lines) || !slices.Equal(got.Want, want.Want) {
		t.Fatalf("Check(%q, %d, %s) = %+v, oracle %+v\nfile:\n%s", host, port, Fingerprint(key), got, want, data)
	}
}

// khKeys are the keys of the known_hosts tables: pinned is what the
// tables pin, other is pinned elsewhere, stranger nowhere.
type khKeys struct {
	pinned, other, stranger ed25519.PublicKey
}

var fixedKHKeys = khKeys{
	pinned:   ed25519.PublicKey(bytes.Repeat([]byte{1}, 32)),
	other:    ed25519.PublicKey(bytes.Repeat([]byte{2}, 32)),
	stranger: ed25519.PublicKey(bytes.Repeat([]byte{3}, 32)),
}

// knownHostsFiles are the table of files for the differential test and
// the seeds of FuzzKnownHosts.
func knownHostsFiles(t testing.TB) map[string]string {
	k := fixedKHKeys
	line := func(hosts string, key ed25519.PublicKey) string { return hosts + " " + AuthorizedLine(key, "c") + "\n" }
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	keys := sampleKeys()
	other := func(name string) string {
		pub, err := ssh.ParsePublicKey(keys[name])
		if err != nil {
			t.Fatal(err)
		}
		return pub.Type() + " " + b64(keys[name])
	}
	cert := sampleCerts(t)["ed25519 cert by ssh-ed25519"]
	longComment := "#" + strings.Repeat("x", maxKnownHostsLine-2)
	return map[string]string{
		"empty":    "",
		"comments": "# nothing\n\n   \n\t# more\n",
		"plain": line("host.example,10.0.0.1,::1", k.pinned) + line("[host.example]:7022,[::1]:7022", k.other) +
			line("other.example", k.other),
		"hashed": line(knownhosts.HashHostname("host.example"), k.pinned) +
			line(knownhosts.HashHostname("[host.example]:7022"), k.pinned) +
			line(knownhosts.HashHostname("HOST.example"), k.other) +
			line("|1|"+b64([]byte("salt"))+"|"+b64([]byte("short")), k.other) +
			line("|1|not base64|"+b64([]byte("x")), k.other) + line("|2|"+b64([]byte("s"))+"|"+b64([]byte("x")), k.other) +
			line("|1|a|b|c", k.other) + line("|1||", k.other) + line("a,|1|x|y", k.other),
		"wildcards": line("*.example", k.pinned) + line("h?st.example", k.other) + line("[*.example]:7022", k.other) +
			line("*:7022", k.other) + line("a*", k.other) + line("*a", k.other) + line("x**", k.other) + line("*", k.other) +
			line("?", k.pinned) + line("**", k.other) + line("*.*.example", k.pinned),
		"negation": line("*.example,!bad.example", k.pinned) + line("!x", k.pinned) + line("!", k.other) +
			line("bad.example,!*", k.other) + line("!*,,", k.other) + line(",,,", k.other) + line("!!x,x", k.other),
		"brackets": line("[h]:22", k.pinned) + line("[h]", k.other) + line("[h]:", k.other) + line("h:7022", k.other) +
			line("[::1]:7022", k.pinned) + line("::1", k.other) + line("[h]:7022:1", k.other) + line("[h]x:1", k.other) +
			line("[]:22", k.other) + line("[h:7022", k.other) + line("h]:7022", k.other) + line("[h]:022", k.other),
		"revoked": "@revoked * " + AuthorizedLine(k.other, "") + "\n" + line("h,host.example", k.other) +
			"@revoked [bad " + AuthorizedLine(k.pinned, "") + "\n" + "@revoked x " + AuthorizedLine(k.pinned, "") + "\n" +
			"@revoked\n@revoked @cert-authority x " + AuthorizedLine(k.stranger, "") + "\n" +
			"@revoked * ssh-ed25519-cert-v01@openssh.com " + b64(cert) + "\n",
		"cert-authority": "@cert-authority *.example " + AuthorizedLine(k.pinned, "") + "\n" +
			"@cert-authority h " + AuthorizedLine(k.stranger, "") + "\n" + line("h", k.stranger) +
			"@cert-authority [bad " + AuthorizedLine(k.pinned, "") + "\n" +
			"@cert-authority @revoked h " + AuthorizedLine(k.pinned, "") + "\n",
		"other types": "host.example " + other("rsa") + "\n" + "host.example " + other("p256") + " c\n" +
			"h " + other("sk-ecdsa") + "\nh " + other("p521") + "\n" + line("h", k.pinned) +
			"host.example ssh-ed25519-cert-v01@openssh.com " + b64(cert) + "\n" +
			"other.example ssh-rsa " + b64(marshalPublicKey(k.pinned)) + "\n" +
			"other.example ssh-dss AAAAB3NzaC1kc3MAAAA=\n" + "other.example " + other("sk-ed25519") + "\n",
		"malformed mixed": "garbage\n" + line("h", k.pinned) + "h ssh-ed25519\nh ssh-ed25519 !!!!\n@unknown h " +
			AuthorizedLine(k.pinned, "") + "\n\x00\xff\n",
		"malformed only": "this is not a known_hosts line\nnor this\n",
		"whitespace": "\t host.example\t\tssh-ed25519   " + b64(marshalPublicKey(k.pinned)) + " \t\r\n" +
			"other.example ssh-ed25519 " + b64(marshalPublicKey(k.other)) + "\r \n" +
			"x ssh-ed25519 " + b64(marshalPublicKey(k.other))[:20] + "\r" + b64(marshalPublicKey(k.other))[20:] + "\n" +
			"h\vx ssh-ed25519 " + b64(marshalPublicKey(k.other)) + "\n" + line("h", k.other)[:len(line("h", k.other))-1],
		"line 65535":             longComment + "\n" + line("h", k.pinned),
		"line 65536":             longComment + "x\n" + line("h", k.pinned),
		"last line 65535":        line("h", k.pinned) + longComment,
		"last line 65536":        line("h", k.pinned) + longComment + "x",
		"line 65535 with CR":     longComment[:len(longComment)-1] + "\r\n" + line("h", k.pinned),
		"line 65536 with CR":     longComment + "\r\n" + line("h", k.pinned),
		"upper-case pattern":     line("Host.Example,[LOCALHOST]:7022", k.pinned),
		"unicode":                line("hôst.example,h?", k.pinned),
		"several keys, one host": line("h", k.other) + line("h", k.stranger) + line("h", k.pinned) + line("h", k.other),
	}
}

var khHosts = []string{"host.example", "HOST.example", "h", "hx", "", "a", "aa", "x", "bad.example",
	"a.b.example", "other.example", "::1", "[::1]", "10.0.0.1", "hôst.example", "h\u00e9", "localhost", "[h]", "h:1"}

func TestKnownHostsMatchesOracle(t *testing.T) {
	k := fixedKHKeys
	for name, data := range knownHostsFiles(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for _, host := range khHosts {
				for _, port := range []int{22, 7022, 2222} {
					for _, key := range []ed25519.PublicKey{k.pinned, k.other, k.stranger} {
						compareWithOracle(t, dir, []byte(data), host, port, key)
					}
				}
			}
		})
	}
}

// TestHostGlobMatchesOracle compares every pattern over {a, b, *, ?} of
// up to 4 bytes with every host over {a, b} of up to 4 bytes: one file
// lists all patterns, each with its own key, so a stranger's lookup
// reports every line that matches.
func TestHostGlobMatchesOracle(t *testing.T) {
	patterns := words("ab*?", 4)
	var file strings.Builder
	for i, p := range patterns {
		key := make(ed25519.PublicKey, 32)
		key[0], key[1] = byte(i), byte(i>>8)
		fmt.Fprintf(&file, "%s %s\n", p, AuthorizedLine(key, ""))
	}
	stranger := ed25519.PublicKey(bytes.Repeat([]byte{0xee}, 32))
	dir := t.TempDir()
	for _, host := range words("ab", 4) {
		compareWithOracle(t, dir, []byte(file.String()), host, 22, stranger)
	}
}

// words returns every string over alphabet of at most n bytes, except
// the empty one.
func words(alphabet string, n int) []string {
	var out []string
	prev := []string{""}
	for range n {
		var next []string
		for _, w := range prev {
			for _, c := range alphabet {
				next = append(next, w+string(c))
			}
		}
		out, prev = append(out, next...), next
	}
	return out
}
