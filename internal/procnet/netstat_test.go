package procnet

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseNetstat reads the captured files: netstat from a quiet host,
// netstat_flood from the network namespace of a SYN flood.
func TestParseNetstat(t *testing.T) {
	cases := []struct {
		file, group string
		n           int // counters in the group
		want        map[string]int64
	}{
		{"netstat", GroupTCPExt, 135, map[string]int64{"SyncookiesSent": 0, "ListenOverflows": 0, "ListenDrops": 0,
			"TCPReqQFullDoCookies": 0, "SyncookiesFailed": 1, "PruneCalled": 163, "TW": 11779}},
		{"netstat_flood", GroupTCPExt, 135, map[string]int64{"SyncookiesSent": 908, "ListenOverflows": 0, "ListenDrops": 0,
			"TCPReqQFullDoCookies": 908}},
		{"netstat", GroupIPExt, 18, map[string]int64{"InOctets": 597983001752, "OutOctets": 597858377709}},
	}
	for _, c := range cases {
		got, err := ParseNetstat(openTestdata(t, c.file), c.group)
		if err != nil {
			t.Fatalf("%s %s: %v", c.file, c.group, err)
		}
		if len(got) != c.n {
			t.Errorf("%s: %d %s counters, want %d", c.file, len(got), c.group, c.n)
		}
		for k, v := range c.want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%s: %s %s = %d (present %v), want %d", c.file, c.group, k, g, ok, v)
			}
		}
	}
	tcp, _ := ParseNetstat(openTestdata(t, "netstat"), GroupTCPExt)
	if _, ok := tcp["InOctets"]; ok {
		t.Errorf("IpExt counters leaked into the TcpExt map")
	}
}

var badNetstat = []struct{ name, in string }{
	{"empty", ""},
	{"no TcpExt", "IpExt: InNoRoutes\nIpExt: 0\n"},
	{"header only", "TcpExt: A B\n"},
	{"count mismatch", "TcpExt: A B\nTcpExt: 1\n"},
	{"prefix mismatch", "TcpExt: A\nIpExt: 1\n"},
	{"no colon", "TcpExt A\nTcpExt 1\n"},
	{"negative", "TcpExt: A\nTcpExt: -1\n"},
	{"signed", "TcpExt: A\nTcpExt: +1\n"},
	{"over int64", "TcpExt: A\nTcpExt: 9223372036854775808\n"},
	{"not a number", "TcpExt: A\nTcpExt: x\n"},
	{"blank pair", "\n\n"},
	{"bad pair in another group", "TcpExt: A\nTcpExt: 1\nIpExt: A B\nIpExt: 1\n"},
	{"line too long", "TcpExt: A\nTcpExt: 1\nIpExt: " + strings.Repeat("A", MaxLine) + "\nIpExt: 1\n"},
}

func TestParseNetstatErrors(t *testing.T) {
	for _, c := range badNetstat {
		if _, err := ParseNetstat(strings.NewReader(c.in), GroupTCPExt); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err = %v, want ErrFormat", c.name, err)
		}
	}
	// Only the group asked for has its values parsed.
	in := "Tcp: MaxConn A\nTcp: -1 2\nTcpExt: A\nTcpExt: 7\n"
	if m, err := ParseNetstat(strings.NewReader(in), GroupTCPExt); err != nil || m["A"] != 7 {
		t.Errorf("snmp-like file: %v, %v, want A=7", m, err)
	}
	if _, err := ReadNetstat(filepath.Join(t.TempDir(), "missing"), GroupTCPExt); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
}

func FuzzParseNetstat(f *testing.F) {
	for _, name := range []string{"netstat", "netstat_flood"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, c := range badNetstat {
		f.Add([]byte(c.in))
	}
	f.Add([]byte("TcpExt: A B\nTcpExt: 1 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, group := range []string{GroupTCPExt, GroupIPExt} {
			m, err := ParseNetstat(bytes.NewReader(data), group)
			if err != nil && !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			if err == nil && m == nil {
				t.Fatal("nil map without an error")
			}
			for k, v := range m {
				if v < 0 || k == "" {
					t.Fatalf("counter %q = %d", k, v)
				}
			}
		}
	})
}
