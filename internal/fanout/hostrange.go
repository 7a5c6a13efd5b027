package fanout

import (
	"slices"
	"strconv"
	"strings"
)

// Compress writes a set of hosts compactly, as pdsh's dshbak -c does:
// hosts that differ in one number outside brackets share one bracket of
// numbers and ranges ("web01,web02,web03,web07" is "web[01-03,07]";
// "10.0.0.2:7022,10.0.0.3:7022" is "10.0.0.[2-3]:7022"). The last number
// is tried first, then the one before it, for the hosts still alone.
// Zero-padded numbers keep their width and are only ranged with numbers
// of that width. Parts appear in the order of their first host;
// duplicates are dropped. Expand(Compress(h)) names exactly the hosts of
// h (as a set), so a printed header can be pasted back into a command.
func Compress(hosts []string) string {
	var parts []compressed
	seen := map[string]bool{}
	var pending []indexed
	for i, h := range hosts {
		if !seen[h] {
			seen[h] = true
			pending = append(pending, indexed{i, h})
		}
	}
	for run := 0; len(pending) > 0; run++ {
		var done []compressed
		done, pending = compressRound(pending, run)
		parts = append(parts, done...)
	}
	slices.SortFunc(parts, func(a, b compressed) int { return a.first - b.first })
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.text
	}
	return strings.Join(out, ",")
}

// indexed is a host with its first place in the input.
type indexed struct {
	index int
	host  string
}

// compressed is one part of the output with the place of its first host.
type compressed struct {
	first int
	text  string
}

// groupKey identifies the hosts that may share one bracket.
type groupKey struct {
	prefix, suffix string
	width          int // zero-padding width; 0 for natural numbers
}

// rangeGroup is hosts that differ only in one number.
type rangeGroup struct {
	groupKey
	first   int
	members []indexed
	nums    []int
}

// compressRound groups hosts on their run-th number from the end. Groups
// of two hosts or more are done; a host alone goes on to the next round;
// a host without such a number is done as itself.
func compressRound(hosts []indexed, run int) (done []compressed, rest []indexed) {
	var order []*rangeGroup
	groups := map[groupKey]*rangeGroup{}
	for _, h := range hosts {
		pre, num, suf, ok := splitNumber(h.host, run)
		if !ok {
			done = append(done, compressed{h.index, h.host})
			continue
		}
		k := groupKey{pre, suf, 0}
		if len(num) > 1 && num[0] == '0' {
			k.width = len(num)
		}
		g := groups[k]
		if g == nil {
			g = &rangeGroup{groupKey: k, first: h.index}
			groups[k] = g
			order = append(order, g)
		}
		n, _ := strconv.Atoi(num)
		g.add(h, n)
	}
	mergePadded(order, groups)
	for _, g := range order {
		switch len(g.members) {
		case 0:
		case 1:
			rest = append(rest, g.members[0])
		default:
			done = append(done, compressed{g.first, formatGroup(g.prefix, g.suffix, g.width, g.nums)})
		}
	}
	return done, rest
}

func (g *rangeGroup) add(h indexed, n int) {
	g.members = append(g.members, h)
	g.nums = append(g.nums, n)
	g.first = min(g.first, h.index)
}

// mergePadded moves natural numbers as wide as a zero-padded group of the
// same prefix and suffix into it: web[01-10] names web10, which has no
// leading zero but belongs with web01.
func mergePadded(order []*rangeGroup, groups map[groupKey]*rangeGroup) {
	for _, g := range order {
		if g.width != 0 {
			continue
		}
		members, nums := g.members[:0], g.nums[:0]
		for i, n := range g.nums {
			w := len(strconv.Itoa(n))
			if p := groups[groupKey{g.prefix, g.suffix, w}]; p != nil && w > 1 {
				p.add(g.members[i], n)
				continue
			}
			members, nums = append(members, g.members[i]), append(nums, n)
		}
		g.members, g.nums = members, nums
	}
}

// formatGroup writes prefix[ranges]suffix.
func formatGroup(prefix, suffix string, width int, nums []int) string {
	slices.Sort(nums)
	nums = slices.Compact(nums)
	num := func(n int) string {
		s := strconv.Itoa(n)
		for len(s) < width {
			s = "0" + s
		}
		return s
	}
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteByte('[')
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(num(nums[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(num(nums[j]))
		}
		i = j + 1
	}
	b.WriteByte(']')
	b.WriteString(suffix)
	return b.String()
}

// splitNumber finds the run-th run of digits from the end of h (0 is the
// last), outside brackets. It reports false when there is none, when the
// number is too long for a range, or when the compressed form would be
// ambiguous (commas, or brackets after the number).
func splitNumber(h string, run int) (prefix, num, suffix string, ok bool) {
	if strings.Contains(h, ",") {
		return "", "", "", false
	}
	depth := 0
	for end := len(h); end > 0; end-- {
		c := h[end-1]
		switch {
		case c == ']':
			depth++
			continue
		case c == '[':
			depth--
			continue
		case depth != 0 || c < '0' || c > '9':
			continue
		}
		start := end - 1
		for start > 0 && h[start-1] >= '0' && h[start-1] <= '9' {
			start--
		}
		if run > 0 {
			run--
			end = start + 1 // the loop steps past the run
			continue
		}
		if end-start > maxRangeDigits || strings.ContainsAny(h[end:], "[]") {
			return "", "", "", false
		}
		return h[:start], h[start:end], h[end:], true
	}
	return "", "", "", false
}
