package auth

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// MatchFrom reports whether a from= pattern list admits ip, following
// sshd(8) "PATTERNS" and from=:
//
//   - a pattern containing '/' is a CIDR prefix (192.0.2.0/24, ::1/128);
//   - a pattern that parses as an IP address matches that address
//     (IPv4-mapped IPv6 addresses count as IPv4);
//   - any other pattern is a glob with '*' (any run of characters) and
//     '?' (one character) matched case-insensitively against the address
//     in its canonical text form (192.0.2.7, 2001:db8::1). Host names
//     are never resolved (like sshd with UseDNS no), so a pattern such as
//     *.example.com matches nothing;
//   - a leading '!' negates: if any negated pattern matches, the address
//     is refused whatever else matches; otherwise it is admitted when at
//     least one positive pattern matches.
//
// An empty list admits nothing; KeyOptions with no from= option do not
// call MatchFrom at all. A nil or invalid ip matches nothing.
func MatchFrom(patterns []string, ip net.IP) bool {
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	addr = addr.Unmap()
	admitted := false
	for _, p := range patterns {
		pat, negated := strings.CutPrefix(p, "!")
		if !matchAddrPattern(pat, addr) {
			continue
		}
		if negated {
			return false
		}
		admitted = true
	}
	return admitted
}

// matchAddrPattern matches one (non-negated) from= pattern.
func matchAddrPattern(pat string, addr netip.Addr) bool {
	if strings.Contains(pat, "/") {
		pfx, err := netip.ParsePrefix(pat)
		return err == nil && pfx.Masked().Contains(addr)
	}
	if a, err := netip.ParseAddr(pat); err == nil {
		return a.Unmap() == addr
	}
	return wildcardMatch(strings.ToLower(pat), addr.String(), globSyntax{})
}

// checkFromPattern validates one from= pattern at parse time, so a typo
// invalidates the line instead of silently matching nothing.
func checkFromPattern(p string) error {
	pat, _ := strings.CutPrefix(p, "!")
	if pat == "" {
		return errors.New("empty pattern")
	}
	if strings.ContainsAny(pat, " \t\"!,") {
		return fmt.Errorf("invalid character in pattern %q", printable([]byte(p)))
	}
	if strings.Contains(pat, "/") {
		if _, err := netip.ParsePrefix(pat); err != nil {
			return fmt.Errorf("bad CIDR %q", printable([]byte(pat)))
		}
	}
	return nil
}

// AllowsArgv reports whether argv may run under these options' allow-list.
// With no allow= option every argv is allowed.
//
// Matching rule: argv is joined with single spaces into one string, and
// it is allowed if any Allow glob matches that whole string (anchored at
// both ends, case-sensitive). In a glob, '*' matches any run of bytes,
// including spaces and '/', '?' matches exactly one UTF-8 character, and
// a backslash makes the next character literal (`\*`, `\?`, `\\`, and
// `\,` for a comma, since allow="a,b" separates globs by unescaped
// commas). There are no character classes.
//
// Because of the joining, {"ls", "-l"} and {"ls -l"} are the same string:
// the allow-list describes commands executed as an argv, without a shell.
// A server must not run a shell string (one COMMAND run via $SHELL -c)
// under an allow-list, since '*' would then admit "; rm -rf ~".
func (o *KeyOptions) AllowsArgv(argv []string) bool {
	if len(o.Allow) == 0 {
		return true
	}
	joined := strings.Join(argv, " ")
	for _, g := range o.Allow {
		if wildcardMatch(g, joined, globSyntax{escapes: true}) {
			return true
		}
	}
	return false
}

// splitAllow splits an allow= value at unescaped commas, keeping escapes
// for wildcardMatch, and rejects empty globs and a trailing backslash.
func splitAllow(value string) ([]string, error) {
	var globs []string
	start := 0
	for i := 0; i < len(value); i++ {
		switch value[i] {
		case '\\':
			if i+1 == len(value) {
				return nil, errors.New("trailing backslash")
			}
			i++
		case ',':
			globs = append(globs, value[start:i])
			start = i + 1
		}
	}
	globs = append(globs, value[start:])
	for _, g := range globs {
		if g == "" {
			return nil, errors.New("empty glob")
		}
	}
	return globs, nil
}

// globSyntax says how a wildcard pattern reads.
type globSyntax struct {
	// escapes: '\' quotes the next pattern character (allow= lists).
	escapes bool
	// bytewise: '?' matches one byte and '*' any run of bytes, as
	// OpenSSH's known_hosts patterns do; otherwise they count UTF-8
	// characters.
	bytewise bool
}

// wildcardMatch matches s against pat, where '*' matches any run of
// characters and '?' one (bytes or UTF-8 characters: syn.bytewise); with
// syn.escapes, '\' quotes the next pattern character. It backtracks only
// to the last '*', so it runs in O(len(pat)*len(s)) at worst (a
// recursive matcher can take exponential time on "*a*a*a*a*b").
func wildcardMatch(pat, s string, syn globSyntax) bool {
	px, sx := 0, 0
	starPx, starSx := -1, -1
	for sx < len(s) {
		if px < len(pat) {
			if n, ok := matchOne(pat[px:], s[sx:], syn); ok && pat[px] != '*' {
				px, sx = px+n.p, sx+n.s
				continue
			}
			if pat[px] == '*' {
				starPx, starSx = px, sx
				px++
				continue
			}
		}
		if starPx < 0 {
			return false
		}
		starSx += charSize(s[starSx:], syn)
		px, sx = starPx+1, starSx
	}
	for px < len(pat) && pat[px] == '*' {
		px++
	}
	return px == len(pat)
}

// charSize is the length of the character s starts with (s is non-empty).
func charSize(s string, syn globSyntax) int {
	if syn.bytewise {
		return 1
	}
	_, size := utf8.DecodeRuneInString(s)
	return size
}

// advance is how far one pattern step moves in the pattern and the string.
type advance struct{ p, s int }

// matchOne matches a single non-'*' pattern element at the start of pat
// against the start of s (s is non-empty).
func matchOne(pat, s string, syn globSyntax) (advance, bool) {
	switch {
	case pat[0] == '?':
		return advance{1, charSize(s, syn)}, true
	case syn.escapes && pat[0] == '\\' && len(pat) > 1:
		return advance{2, 1}, pat[1] == s[0]
	default:
		return advance{1, 1}, pat[0] == s[0]
	}
}
