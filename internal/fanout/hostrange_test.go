package fanout

import (
	"strings"
	"testing"
)

func TestCompress(t *testing.T) {
	tests := []struct {
		hosts []string
		want  string
	}{
		{[]string{"web01", "web02", "web03", "web07"}, "web[01-03,07]"},
		{[]string{"web07", "web01", "web03", "web02"}, "web[01-03,07]"},
		{[]string{"web1"}, "web1"},
		{[]string{"web1", "web1"}, "web1"},
		{[]string{"web9", "web10", "web11"}, "web[9-11]"},
		{[]string{"web08", "web09", "web10"}, "web[08-10]"},
		{[]string{"web1", "web01"}, "web1,web01"},
		{[]string{"db", "web1", "web2", "db"}, "db,web[1-2]"},
		{[]string{"r1n1", "r1n2", "r2n1"}, "r1n[1-2],r2n1"},
		{[]string{"web1.example.com", "web2.example.com"}, "web[1-2].example.com"},
		{[]string{"127.0.0.2:9000", "127.0.0.3:9000"}, "127.0.0.[2-3]:9000"},
		{[]string{"127.0.0.4:9000", "127.0.0.2:9001", "127.0.0.2:9000"}, "127.0.0.4:9000,127.0.0.2:[9000-9001]"},
		{[]string{"10.1.2.3", "10.1.2.4", "10.1.3.3"}, "10.1.2.[3-4],10.1.3.3"},
		{[]string{"a1b1", "a2b2"}, "a1b1,a2b2"},
		{[]string{"r1n1", "r2n1", "r3n1"}, "r[1-3]n1"},
		{[]string{"127.0.0.2:9000", "127.0.0.2:9001"}, "127.0.0.2:[9000-9001]"},
		{[]string{"[::1]:7022", "[::1]:7023"}, "[::1]:[7022-7023]"},
		{[]string{"[fe80::1]", "[fe80::2]"}, "[fe80::1],[fe80::2]"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := Compress(tt.hosts); got != tt.want {
			t.Errorf("Compress(%q) = %q, want %q", tt.hosts, got, tt.want)
		}
	}
}

func TestCompressRoundTrip(t *testing.T) {
	for _, p := range []string{"web[001-120]", "a[1-3],b[08-12],c", "x[1-5]y[1-2]", "[::1]:[7000-7003]", "w[099-101]"} {
		hosts, err := Expand(p)
		if err != nil {
			t.Fatal(err)
		}
		c := Compress(hosts)
		again, err := Expand(c)
		if err != nil || !sameSet(hosts, again) {
			t.Errorf("Expand(Compress(Expand(%q))) via %q = %q, %v; want the same hosts", p, c, again, err)
		}
		if strings.Count(c, ",") > len(hosts) {
			t.Errorf("Compress(%q) = %q is longer than the list", p, c)
		}
	}
}
