package fanout

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

var expandTests = []struct {
	pattern string
	want    []string
}{
	{"web1", []string{"web1"}},
	{"web[1-3]", []string{"web1", "web2", "web3"}},
	{"web[01-03]", []string{"web01", "web02", "web03"}},
	{"web[1-3,7]", []string{"web1", "web2", "web3", "web7"}},
	{"web[08-11]", []string{"web08", "web09", "web10", "web11"}},
	{"web[9-11]", []string{"web9", "web10", "web11"}},
	{"web[001-2]", []string{"web001", "web002"}},
	{"web[3]", []string{"web3"}},
	{"r[1-2]n[1-2]", []string{"r1n1", "r1n2", "r2n1", "r2n2"}},
	{"web[1-2].example.com:7022", []string{"web1.example.com:7022", "web2.example.com:7022"}},
	{"a,b,,c", []string{"a", "b", "c"}},
	{"web[1-2],db1", []string{"web1", "web2", "db1"}},
	{"root@web[1-2]", []string{"root@web1", "root@web2"}},
	{"[::1]:7022", []string{"[::1]:7022"}},
	{"[::1]:[7022-7023]", []string{"[::1]:7022", "[::1]:7023"}},
	{"::1", []string{"::1"}},
	{"127.0.0.[2-4]:9000", []string{"127.0.0.2:9000", "127.0.0.3:9000", "127.0.0.4:9000"}},
	{"", nil},
	{" , ", nil},
}

func TestExpand(t *testing.T) {
	for _, tt := range expandTests {
		got, err := Expand(tt.pattern)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("Expand(%q) = %q, %v; want %q", tt.pattern, got, err, tt.want)
		}
	}
}

func TestExpandErrors(t *testing.T) {
	tests := []struct {
		pattern string
		want    error
	}{
		{"web[1-3", ErrBadPattern},
		{"web1-3]", ErrBadPattern},
		{"web[[1]]", ErrBadPattern},
		{"web[3-1]", ErrBadPattern},
		{"web[a-c]", ErrBadPattern},
		{"web[]", ErrBadPattern},
		{"web[1-]", ErrBadPattern},
		{"web[-1]", ErrBadPattern},
		{"web[1,,2]", ErrBadPattern},
		{"web[1234567890]", ErrBadPattern},
		{"web[0-100000]", ErrTooManyHosts},
		{"web[1-999999999]", ErrTooManyHosts},
		{"a[0-999]b[0-999]", ErrTooManyHosts},
		{"a[0-99999],b[0-1]", ErrTooManyHosts},
	}
	for _, tt := range tests {
		got, err := Expand(tt.pattern)
		if !errors.Is(err, tt.want) {
			t.Errorf("Expand(%q) = %d hosts, %v; want %v", tt.pattern, len(got), err, tt.want)
		}
	}
}

func TestExpandAtTheLimit(t *testing.T) {
	got, err := Expand(fmt.Sprintf("h[1-%d]", MaxHosts))
	if err != nil || len(got) != MaxHosts {
		t.Fatalf("Expand(h[1-MaxHosts]) = %d hosts, %v; want %d", len(got), err, MaxHosts)
	}
}

func TestParseHostsFile(t *testing.T) {
	in := "# fleet\nweb[01-02]\n\n  db1   # primary\ndb2 db3\n\t\n#web99\nweb01\n"
	got, err := ParseHostsFile(strings.NewReader(in))
	want := []string{"web01", "web02", "db1", "db2", "db3", "web01"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("ParseHostsFile = %q, %v; want %q", got, err, want)
	}
	_, err = ParseHostsFile(strings.NewReader("ok\nbad[2-1]\n"))
	if !errors.Is(err, ErrBadPattern) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("ParseHostsFile(bad line 2) error = %v; want ErrBadPattern naming line 2", err)
	}
	_, err = ParseHostsFile(strings.NewReader("a[1-60000]\nb[1-60000]\n"))
	if !errors.Is(err, ErrTooManyHosts) {
		t.Errorf("ParseHostsFile(120,000 hosts) error = %v; want ErrTooManyHosts", err)
	}
	_, err = ParseHostsFile(strings.NewReader(strings.Repeat("x", maxHostsLine+1)))
	if err == nil {
		t.Error("ParseHostsFile(one huge line) succeeded; want an error")
	}
}

func TestList(t *testing.T) {
	tests := []struct {
		include, exclude, want []string
	}{
		{[]string{"b", "a", "b"}, nil, []string{"b", "a"}},
		{[]string{"web[1-5]"}, []string{"web[2-3]"}, []string{"web1", "web4", "web5"}},
		{[]string{"web[1-5]"}, []string{"web1,web5", "web3"}, []string{"web2", "web4"}},
		{[]string{"web[1-2]", "web[2-3]"}, nil, []string{"web1", "web2", "web3"}},
		{[]string{"a"}, []string{"a"}, nil},
		{[]string{"a"}, []string{"zz[1-3]"}, []string{"a"}},
	}
	for _, tt := range tests {
		got, err := List(tt.include, tt.exclude)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("List(%q, -x %q) = %q, %v; want %q", tt.include, tt.exclude, got, err, tt.want)
		}
	}
	if _, err := List([]string{"a[1-60000]", "b[1-60000]"}, nil); !errors.Is(err, ErrTooManyHosts) {
		t.Errorf("List(120,000 hosts) error = %v; want ErrTooManyHosts", err)
	}
	if _, err := List([]string{"a"}, []string{"b[2-1]"}); !errors.Is(err, ErrBadPattern) {
		t.Errorf("List(-x bad) error = %v; want ErrBadPattern", err)
	}
}

// FuzzExpand checks that expansion never panics, never passes MaxHosts,
// and that compressing its result and expanding again names the same set.
func FuzzExpand(f *testing.F) {
	for _, tt := range expandTests {
		f.Add(tt.pattern)
	}
	for _, s := range []string{"web[1-3", "a[0-999]b[0-999]", "x[01-10]y", "[fe80::1]", "a[1,1,1]", "w[099-101]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		if len(pattern) > 256 {
			return
		}
		hosts, err := expandLimit(pattern, 10_000) // keep each input fast
		if err != nil {
			if !errors.Is(err, ErrBadPattern) && !errors.Is(err, ErrTooManyHosts) {
				t.Fatalf("Expand(%q) error %v is neither ErrBadPattern nor ErrTooManyHosts", pattern, err)
			}
			return
		}
		if len(hosts) > 10_000 {
			t.Fatalf("Expand(%q) = %d hosts, over the limit", pattern, len(hosts))
		}
		if len(hosts) == 0 {
			return
		}
		c := Compress(hosts)
		again, err := Expand(c)
		if err != nil {
			t.Fatalf("Expand(Compress(Expand(%q))) = Expand(%q): %v", pattern, c, err)
		}
		if !sameSet(hosts, again) {
			t.Fatalf("Expand(%q) = %q; compressed %q expands to %q", pattern, hosts, c, again)
		}
	})
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
