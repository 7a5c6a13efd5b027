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
// Matching rule (docs/SECURITY.md, "allow="): a glob is a list of words
// separated by unescaped spaces, and it admits an argv of exactly that
// many arguments, each matching its word. Within a word, '*' matches any
// run of characters except '/', "**" any run including '/', '?' one UTF-8
// character except '/', and a backslash makes the next character literal
// (`\*`, `\?`, `\\`, `\ ` for a space inside an argument, and `\,` for a
// comma, since allow="a,b" separates globs by unescaped commas). Matching
// is case-sensitive and anchored at both ends of each argument.
//
// Two more rules keep a pattern from admitting more than it names: an
// argument with a ".." path segment matches only a word that spells ".."
// itself, and an argument that starts with '-' (an option) matches only a
// word that starts with a literal '-'. So "tail -n 5 /var/log/*" admits
// neither /var/log/../../etc/shadow nor a second file, and "git log *"
// does not admit --output=FILE.
//
// A server must not run a shell string (one COMMAND run via $SHELL -c)
// under an allow-list, since a shell could run anything; a string of
// plain words is matched as the argv it splits into.
func (o *KeyOptions) AllowsArgv(argv []string) bool {
	if len(o.Allow) == 0 {
		return true
	}
	for _, g := range o.Allow {
		if globAdmits(g, argv) {
			return true
		}
	}
	return false
}

// globAdmits matches argv against one allow= glob, word by word.
func globAdmits(glob string, argv []string) bool {
	words := allowWords(glob)
	if len(words) != len(argv) {
		return false
	}
	for i, w := range words {
		if !wordAdmits(w, argv[i]) {
			return false
		}
	}
	return true
}

// allowWords splits an allow= glob at unescaped spaces into its words,
// each a list of tokens.
func allowWords(glob string) [][]argToken {
	var words [][]argToken
	var cur []argToken
	inWord := false
	for i := 0; i < len(glob); i++ {
		c := glob[i]
		if c == ' ' {
			if inWord {
				words, cur, inWord = append(words, cur), nil, false
			}
			continue
		}
		inWord = true
		switch {
		case c == '\\' && i+1 < len(glob):
			i++
			cur = append(cur, argToken{kind: tokLiteral, c: glob[i]})
		case c == '*' && i+1 < len(glob) && glob[i+1] == '*':
			for i+1 < len(glob) && glob[i+1] == '*' {
				i++
			}
			cur = append(cur, argToken{kind: tokAnyRun})
		case c == '*':
			cur = append(cur, argToken{kind: tokRun})
		case c == '?':
			cur = append(cur, argToken{kind: tokOne})
		default:
			cur = append(cur, argToken{kind: tokLiteral, c: c})
		}
	}
	if inWord {
		words = append(words, cur)
	}
	return words
}

// argToken is one element of an allow= word.
type argToken struct {
	kind tokenKind
	c    byte // tokLiteral only
}

type tokenKind uint8

const (
	tokLiteral tokenKind = iota // one byte, exactly
	tokOne                      // '?': one character, not '/'
	tokRun                      // '*': any run without '/'
	tokAnyRun                   // "**": any run
)

// wordAdmits matches one argument against one word, with the ".." and
// option rules of AllowsArgv.
func wordAdmits(word []argToken, arg string) bool {
	if strings.HasPrefix(arg, "-") && (len(word) == 0 || word[0] != argToken{kind: tokLiteral, c: '-'}) {
		return false
	}
	if hasDotDotSegment(arg) && !wordSpellsDotDot(word) {
		return false
	}
	return matchTokens(word, arg)
}

// hasDotDotSegment reports a ".." element in a slash-separated path.
func hasDotDotSegment(s string) bool {
	for _, seg := range strings.Split(s, "/") {
		if seg == ".." {
			return true
		}
	}
	return false
}

// wordSpellsDotDot reports two consecutive literal dots in a word.
func wordSpellsDotDot(word []argToken) bool {
	dot := argToken{kind: tokLiteral, c: '.'}
	for i := 0; i+1 < len(word); i++ {
		if word[i] == dot && word[i+1] == dot {
			return true
		}
	}
	return false
}

// matchTokens reports whether the tokens match all of s. It keeps the set
// of positions of s reachable after each token, so it runs in
// O(len(tokens) * len(s)) whatever the stars (no backtracking).
func matchTokens(toks []argToken, s string) bool {
	cur := make([]bool, len(s)+1)
	next := make([]bool, len(s)+1)
	bounds := charBounds(s)
	cur[0] = true
	for _, t := range toks {
		clear(next)
		stepToken(t, s, bounds, cur, next)
		cur, next = next, cur
	}
	return cur[len(s)]
}

// charBounds marks the positions of s where a character starts, and
// len(s), stepping as utf8.DecodeRuneInString does (an invalid byte is a
// character of its own), so that '*' and '?' count the same characters.
func charBounds(s string) []bool {
	b := make([]bool, len(s)+1)
	for i := 0; i < len(s); {
		b[i] = true
		_, n := utf8.DecodeRuneInString(s[i:])
		i += n
	}
	b[len(s)] = true
	return b
}

// stepToken sets next[j] for every end j of a match of t that starts at a
// position i with cur[i]. A run ends only at a character boundary
// (bounds): ending inside a multi-byte character would let a following
// '?' match one of its continuation bytes, so that "*??" would admit
// "€", one character of three bytes.
func stepToken(t argToken, s string, bounds, cur, next []bool) {
	carry := false
	for i := 0; i <= len(s); i++ {
		switch t.kind {
		case tokLiteral:
			if cur[i] && i < len(s) && s[i] == t.c {
				next[i+1] = true
			}
		case tokOne:
			if cur[i] && i < len(s) && s[i] != '/' {
				_, n := utf8.DecodeRuneInString(s[i:])
				next[i+n] = true
			}
		case tokRun, tokAnyRun:
			carry = carry || cur[i]
			next[i] = carry && bounds[i]
			if t.kind == tokRun && i < len(s) && s[i] == '/' {
				carry = false
			}
		}
	}
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
