package fanout

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/rexec-dev/rexec/internal/client"
)

// MaxHosts bounds how many hosts one host list may name after expansion.
// A typo such as web[1-99999999] must fail at once instead of allocating
// gigabytes; 100,000 is far above any fleet one client can drive.
const MaxHosts = 100_000

// maxRangeDigits bounds the digits of a range bound: nine digits always fit
// an int, and no host name numbers past a billion.
const maxRangeDigits = 9

// maxHostsLine bounds one line of a --hosts file, so a binary file given by
// mistake fails quickly instead of being buffered whole.
const maxHostsLine = 64 << 10

// Errors from host list parsing; match them with errors.Is.
var (
	// ErrBadPattern is a malformed host pattern: unbalanced brackets, a
	// range that is not digits, a reversed range.
	ErrBadPattern = errors.New("fanout: bad host pattern")
	// ErrTooManyHosts is a host list that expands past MaxHosts.
	ErrTooManyHosts = fmt.Errorf("fanout: host list expands to more than %d hosts", MaxHosts)
)

// Expand expands one host pattern as pdsh does: commas outside brackets
// separate hosts ("web1,db1"), and a bracket of numbers and ranges
// expands to one host per number, zero-padded to the width of a bound
// written with leading zeros ("web[01-03,7]" is web01 web02 web03 web07).
// Several brackets multiply ("r[1-2]n[1-2]"). A bracket holding a colon
// is an IPv6 literal ("[::1]:7022") and stays as it is. Empty items are
// skipped. The result is in pattern order, duplicates kept; it never holds
// more than MaxHosts names.
func Expand(pattern string) ([]string, error) {
	return expandLimit(pattern, MaxHosts)
}

// expandLimit is Expand with at most limit results.
func expandLimit(pattern string, limit int) ([]string, error) {
	items, err := splitTop(pattern)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, it := range items {
		hosts, err := expandOne(it, limit-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, hosts...)
	}
	return out, nil
}

// splitTop splits s at commas outside brackets and drops empty items.
func splitTop(s string) ([]string, error) {
	var items []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			if depth++; depth > 1 {
				return nil, fmt.Errorf("%w: nested brackets in %q", ErrBadPattern, s)
			}
		case ']':
			if depth--; depth < 0 {
				return nil, fmt.Errorf("%w: unbalanced ] in %q", ErrBadPattern, s)
			}
		case ',':
			if depth == 0 {
				items = appendNonEmpty(items, s[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("%w: unbalanced [ in %q", ErrBadPattern, s)
	}
	return appendNonEmpty(items, s[start:]), nil
}

func appendNonEmpty(items []string, s string) []string {
	if s = strings.TrimSpace(s); s != "" {
		items = append(items, s)
	}
	return items
}

// segment is a piece of a pattern item: a literal (one choice) or a
// range (one choice per number).
type segment []string

// expandOne expands an item without top-level commas: the cartesian
// product of its segments, refused before generating when it would pass
// limit.
func expandOne(item string, limit int) ([]string, error) {
	segs, err := segments(item, limit)
	if err != nil {
		return nil, err
	}
	total := 1
	for _, s := range segs {
		if total > limit/len(s) {
			return nil, ErrTooManyHosts
		}
		total *= len(s)
	}
	if total > limit {
		return nil, ErrTooManyHosts
	}
	out := []string{""}
	for _, s := range segs {
		next := make([]string, 0, len(out)*len(s))
		for _, prefix := range out {
			for _, v := range s {
				next = append(next, prefix+v)
			}
		}
		out = next
	}
	return out, nil
}

// segments cuts an item into literals and ranges. Brackets are balanced
// and not nested (splitTop checked).
func segments(item string, limit int) ([]segment, error) {
	var segs []segment
	for item != "" {
		open := strings.IndexByte(item, '[')
		if open < 0 {
			return append(segs, segment{item}), nil
		}
		end := open + strings.IndexByte(item[open:], ']')
		body := item[open+1 : end]
		if strings.Contains(body, ":") { // an IPv6 literal, kept whole
			segs = append(segs, segment{item[:end+1]})
			item = item[end+1:]
			continue
		}
		if open > 0 {
			segs = append(segs, segment{item[:open]})
		}
		r, err := expandRange(body, limit)
		if err != nil {
			return nil, fmt.Errorf("%w in %q", err, item)
		}
		segs = append(segs, r)
		item = item[end+1:]
	}
	return segs, nil
}

// expandRange expands the inside of a bracket: "01-03,7".
func expandRange(body string, limit int) (segment, error) {
	var out segment
	for part := range strings.SplitSeq(body, ",") {
		lo, hi, width, err := parseBounds(part)
		if err != nil {
			return nil, err
		}
		if hi-lo >= limit-len(out) {
			return nil, ErrTooManyHosts
		}
		for n := lo; n <= hi; n++ {
			out = append(out, fmt.Sprintf("%0*d", width, n))
		}
	}
	return out, nil
}

// parseBounds parses "N" or "A-B" into bounds and the zero-padding width.
func parseBounds(part string) (lo, hi, width int, err error) {
	a, b, isRange := strings.Cut(part, "-")
	if !isRange {
		b = a
	}
	if !isDigits(a) || !isDigits(b) {
		return 0, 0, 0, fmt.Errorf("%w: range %q is not N or A-B", ErrBadPattern, part)
	}
	lo, _ = strconv.Atoi(a)
	hi, _ = strconv.Atoi(b)
	if lo > hi {
		return 0, 0, 0, fmt.Errorf("%w: reversed range %q", ErrBadPattern, part)
	}
	if len(a) > 1 && a[0] == '0' {
		width = len(a)
	}
	return lo, hi, width, nil
}

func isDigits(s string) bool {
	if s == "" || len(s) > maxRangeDigits {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ParseHostsFile reads a --hosts file: one host pattern per line (several
// separated by spaces are accepted too), "#" starts a comment, blank lines
// are skipped. Patterns are expanded as Expand does; the result is in file
// order with duplicates kept, and never more than MaxHosts names.
func ParseHostsFile(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxHostsLine)
	var out []string
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		for _, pat := range strings.Fields(line) {
			hosts, err := expandLimit(pat, MaxHosts-len(out))
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			out = append(out, hosts...)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading hosts: %w", err)
	}
	return out, nil
}

// List builds the final host list: every pattern of include expanded in
// order, duplicates dropped (the first place wins), then every host named
// by the patterns of exclude (-x) removed. It fails on a bad pattern or
// when the list passes MaxHosts. An empty result is not an error here;
// the caller decides what that means.
func List(include, exclude []string) ([]string, error) {
	drop := map[string]bool{}
	for _, pat := range exclude {
		hosts, err := Expand(pat)
		if err != nil {
			return nil, fmt.Errorf("excluding %q: %w", pat, err)
		}
		for _, h := range hosts {
			drop[h] = true
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, pat := range include {
		hosts, err := Expand(pat)
		if err != nil {
			return nil, err
		}
		for _, h := range hosts {
			if seen[h] || drop[h] {
				continue
			}
			if len(out) == MaxHosts {
				return nil, ErrTooManyHosts
			}
			seen[h] = true
			out = append(out, h)
		}
	}
	return out, nil
}

// Destinations maps every host that the HOST:PATH destinations of an
// upload to many hosts name (client.ParseCopy's Dests; each host a
// pattern, expanded as by Expand) to its remote path. A host that two
// destinations give different paths is refused: it cannot hold both.
func Destinations(dsts []client.Operand) (map[string]string, error) {
	paths := map[string]string{}
	for _, d := range dsts {
		hosts, err := Expand(d.Host)
		if err != nil {
			return nil, err
		}
		for _, h := range hosts {
			if p, ok := paths[h]; ok && p != d.Path {
				return nil, fmt.Errorf("%s is given two destinations, %q and %q", h, p, d.Path)
			}
			paths[h] = d.Path
		}
	}
	return paths, nil
}
