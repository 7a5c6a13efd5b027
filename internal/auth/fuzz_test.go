package auth

import (
	"bytes"
	"crypto/ed25519"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"
)

func FuzzParseAuthorizedKeys(f *testing.F) {
	for _, tt := range authorizedLineTests {
		f.Add([]byte(tt.line + "\n"))
	}
	f.Add([]byte("# c\n\r\nssh-ed25519 " + fixtureB64 + "\n\x00\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, warnings := ParseAuthorizedKeys(data)
		for _, k := range keys.Keys {
			if len(k.Key) != 32 || k.Line < 1 {
				t.Fatalf("bad entry %+v", k)
			}
			// Exercise the matchers on what was parsed: no panics.
			MatchFrom(k.Options.From, net.ParseIP("192.0.2.1"))
			k.Options.AllowsArgv([]string{"ls", "-l"})
		}
		for _, w := range warnings {
			if len(w) == 0 {
				t.Fatal("empty warning")
			}
		}
	})
}

func FuzzParsePublicKeyLine(f *testing.F) {
	for _, tt := range pubLineTests {
		f.Add([]byte(tt.line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		pub, _, err := ParsePublicKeyLine(line)
		if err != nil {
			return
		}
		// Whatever parses must round-trip through AuthorizedLine.
		again, _, err := ParsePublicKeyLine([]byte(AuthorizedLine(pub, "")))
		if err != nil || !again.Equal(pub) {
			t.Fatalf("round trip of %x: %v", pub, err)
		}
	})
}

func FuzzWildcardMatch(f *testing.F) {
	f.Add("a*b?c", "axxbyc", true)
	f.Add(`\*,*`, "*,", true)
	f.Fuzz(func(t *testing.T, pat, s string, escapes bool) {
		for _, syn := range []globSyntax{{escapes: escapes}, {escapes: escapes, bytewise: true}} {
			wildcardMatch(pat, s, syn)
			if !escapes && !wildcardMatch("*", s, syn) {
				t.Fatal("* must match everything")
			}
		}
	})
}

// FuzzOpenSSHPrivateKey: no input panics, whatever parses is a 64-byte
// key that x/crypto/ssh reads as the same key, and it round-trips through
// our encoder with its comment.
func FuzzOpenSSHPrivateKey(f *testing.F) {
	for _, name := range []string{"id_ed25519", "id_ed25519_encrypted", "id_rsa", "id_ecdsa"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, comment := range oracleComments[:3] {
		data, err := marshalOpenSSHPrivateKey(mustIdentity(f, comment).Private, comment)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		priv, comment, err := parseOpenSSHPrivateKey(data)
		if err != nil {
			return
		}
		if len(priv) != ed25519.PrivateKeySize {
			t.Fatalf("accepted a key of %d bytes", len(priv))
		}
		raw, err := ssh.ParseRawPrivateKey(data)
		if k, ok := raw.(*ed25519.PrivateKey); err != nil || !ok || !k.Equal(priv) {
			t.Fatalf("we accept %x, the oracle says %T, %v", priv, raw, err)
		}
		again, err := marshalOpenSSHPrivateKey(priv, comment)
		if err != nil {
			t.Fatal(err)
		}
		if p, c, err := parseOpenSSHPrivateKey(again); err != nil || !p.Equal(priv) || c != comment {
			t.Fatalf("round trip: %x, %q, %v", p, c, err)
		}
	})
}

// FuzzKnownHosts: for any file, host, port and key, KnownHosts.Check
// decides as x/crypto's knownhosts does (see oracleVerdict for the one
// intended difference): same verdict, same pinned lines and fingerprints,
// or both refuse the file.
func FuzzKnownHosts(f *testing.F) {
	k := fixedKHKeys
	for _, data := range knownHostsFiles(f) {
		if len(data) > 4<<10 {
			continue
		}
		for _, host := range []string{"host.example", "h", "a.b.example"} {
			for _, key := range []ed25519.PublicKey{k.pinned, k.other, k.stranger} {
				f.Add([]byte(data), host, 22, []byte(key))
			}
			f.Add([]byte(data), host, 7022, []byte(k.pinned))
		}
	}
	dir := f.TempDir() // one per worker process: a directory per input is slow
	f.Fuzz(func(t *testing.T, data []byte, host string, port int, keyBytes []byte) {
		// knownhosts' matcher takes time exponential in the number of
		// '*' in a pattern (ours does not): keep the oracle fast.
		if len(host) > 64 || slices.ContainsFunc(bytes.Split(data, []byte("\n")), func(l []byte) bool {
			return bytes.Count(l, []byte("*")) > 4
		}) {
			return
		}
		key := make(ed25519.PublicKey, ed25519.PublicKeySize)
		copy(key, keyBytes)
		compareWithOracle(t, dir, data, host, port, key)
	})
}

// FuzzAllowGlob checks the allow= word matcher against a regular
// expression built from the same word: '*' is [^/]*, "**" is .*, '?' is
// one character other than '/'. The extra ".." and option rules are
// checked separately: they may only refuse what the expression admits.
func FuzzAllowGlob(f *testing.F) {
	f.Add("ls *", "ls\x00x y")
	f.Add("cat /var/log/**", "cat\x00/var/log/../../etc/shadow")
	f.Add(`a\ b ?`, "a b\x00é")
	f.Add("git log -*", "git\x00log\x00--oneline")
	f.Fuzz(func(t *testing.T, glob, args string) {
		if glob == "" || len(glob) > 64 || len(args) > 256 || !utf8.ValidString(glob) || !utf8.ValidString(args) {
			return // regexp works on UTF-8 text
		}
		argv := strings.Split(args, "\x00")
		got := (&KeyOptions{Allow: []string{glob}}).AllowsArgv(argv)
		words := allowWords(glob)
		want := len(words) == len(argv)
		for i := 0; want && i < len(words); i++ {
			want = allowWordRegexp(words[i]).MatchString(argv[i])
		}
		if got && !want {
			t.Fatalf("AllowsArgv(%q, %q) admits what the expression refuses", glob, argv)
		}
		if !got && want {
			for i, w := range words {
				if !wordAdmits(w, argv[i]) && !strings.HasPrefix(argv[i], "-") && !hasDotDotSegment(argv[i]) {
					t.Fatalf("AllowsArgv(%q, %q) refuses what the expression admits", glob, argv)
				}
			}
		}
	})
}

// allowWordRegexp is the reference meaning of one allow= word.
func allowWordRegexp(word []argToken) *regexp.Regexp {
	var b strings.Builder
	var lit []byte
	flush := func() { b.WriteString(regexp.QuoteMeta(string(lit))); lit = lit[:0] }
	b.WriteString(`^(?s:`)
	for _, tk := range word {
		if tk.kind == tokLiteral {
			lit = append(lit, tk.c)
			continue
		}
		flush()
		switch tk.kind {
		case tokOne:
			b.WriteString(`[^/]`)
		case tokRun:
			b.WriteString(`[^/]*`)
		case tokAnyRun:
			b.WriteString(`.*`)
		}
	}
	flush()
	b.WriteString(`)$`)
	return regexp.MustCompile(b.String())
}
