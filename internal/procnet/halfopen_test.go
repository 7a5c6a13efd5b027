package procnet

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .golden files in testdata")

// The testdata files were captured on a little-endian machine: tcp, tcp6
// and netstat from a host with a few loopback connections (IPv4, ::1 and
// an IPv4 client of a dual-stack listener), the SYN_RECV rows of tcp6 and
// netstat_flood from internal/synwatch's TestSYNFloodNetns
// (REXEC_SYN_CAPTURE), plus hand-written SYN_RECV rows from documentation
// addresses (192.0.2.0/24, 198.51.100.0/24, 2001:db8::/32) at the end of
// tcp and tcp6.
func openTestdata(t testing.TB, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestGoldenDecode decodes every row of the captured tables; the .golden
// files hold the result, one row each (regenerate with -update and review
// the diff).
func TestGoldenDecode(t *testing.T) {
	skipBigEndian(t)
	for _, name := range []string{"tcp", "tcp6"} {
		t.Run(name, func(t *testing.T) {
			var got bytes.Buffer
			if err := Scan(openTestdata(t, name), func(s Socket) bool { fmt.Fprintln(&got, s); return true }); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("decoded %s differs from %s:\ngot:\n%s\nwant:\n%s", name, golden, got.Bytes(), want)
			}
		})
	}
}

func portSet(ports []uint16) map[uint16]bool {
	m := map[uint16]bool{}
	for _, p := range ports {
		m[p] = true
	}
	return m
}

func sourceList(c HalfOpen) []string {
	var out []string
	for a := range c.Sources {
		out = append(out, a.String())
	}
	slices.Sort(out)
	return out
}

func TestCountHalfOpen(t *testing.T) {
	skipBigEndian(t)
	cases := []struct {
		files   []string
		ports   []uint16
		want    int
		sources []string // nil: checked by count only
		nSrc    int
	}{
		{[]string{"tcp"}, nil, 4, []string{"192.0.2.5", "192.0.2.9", "198.51.100.7"}, 3},
		{[]string{"tcp"}, []uint16{7022}, 3, []string{"192.0.2.5", "198.51.100.7"}, 2},
		{[]string{"tcp"}, []uint16{7023, 7024}, 0, nil, 0},
		{[]string{"tcp6"}, []uint16{7022}, 1, []string{"2001:db8::1"}, 1},
		// IPv4 clients of a dual-stack listener: unmapped.
		{[]string{"tcp6"}, []uint16{39343}, 10, []string{"127.77.1.248", "127.77.1.27", "127.77.12.34", "127.77.12.98",
			"127.77.14.47", "127.77.14.89", "127.77.15.80", "127.77.2.50", "127.77.2.63", "127.77.7.227"}, 10},
		{[]string{"tcp6"}, nil, 11, nil, 11},
		// Both tables add up into one count.
		{[]string{"tcp", "tcp6"}, []uint16{7022}, 4, []string{"192.0.2.5", "198.51.100.7", "2001:db8::1"}, 3},
		{[]string{"tcp", "tcp6"}, nil, 15, nil, 14},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.files, c.ports), func(t *testing.T) {
			var got HalfOpen
			for _, f := range c.files {
				if err := CountHalfOpen(openTestdata(t, f), portSet(c.ports), &got); err != nil {
					t.Fatal(err)
				}
			}
			src := sourceList(got)
			if got.Count != c.want || len(src) != c.nSrc || c.sources != nil && !slices.Equal(src, c.sources) {
				t.Errorf("CountHalfOpen(%v, %v) = %d, %v, want %d, %v (%d sources)", c.files, c.ports, got.Count, src, c.want, c.sources, c.nSrc)
			}
		})
	}
}

func TestCountHalfOpenErrors(t *testing.T) {
	skipBigEndian(t)
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	good := "   0: 0100007F:1B6E 050200C0:9C40 03 00000000:00000000 01:00000048 00000000     0        0 0 0 0000000000000000\n"
	cases := []struct{ name, in string }{
		{"too few fields", header + "   0: 0100007F:1B6E 050200C0:9C40 03\n"},
		{"bad state", header + "   0: 0100007F:1B6E 050200C0:9C40 3 00000000:00000000 01:00000048 00000000 0 0 0\n"},
		{"header in the middle", header + good + header},
		{"line too long", header + good + strings.Repeat("x", MaxLine+1) + "\n"},
	}
	for _, c := range cases {
		var got HalfOpen
		if err := CountHalfOpen(strings.NewReader(c.in), nil, &got); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err = %v, want ErrFormat", c.name, err)
		}
	}
	var got HalfOpen
	if err := CountHalfOpen(strings.NewReader(header+good), nil, &got); got.Count != 1 || err != nil {
		t.Errorf("good row: %d, %v, want 1, nil", got.Count, err)
	}
	if got.Sources == nil || !maps.Equal(got.Sources, map[netip.Addr]struct{}{netip.MustParseAddr("192.0.2.5"): {}}) {
		t.Errorf("good row: sources %v, want 192.0.2.5", got.Sources)
	}
	got = HalfOpen{}
	if err := CountHalfOpen(strings.NewReader(""), nil, &got); got.Count != 0 || err != nil {
		t.Errorf("empty file: %d, %v, want 0, nil", got.Count, err)
	}
	if err := CountHalfOpenFile(filepath.Join(t.TempDir(), "missing"), nil, &got); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
}

func FuzzCountHalfOpen(f *testing.F) {
	for _, name := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("   0: 0100007F:1B6E 050200C0:9C40 03 00000000:00000000 01:00000048 00000000 0 0 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c HalfOpen
		err := CountHalfOpen(bytes.NewReader(data), nil, &c)
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("error %v does not wrap ErrFormat", err)
		}
		if len(c.Sources) > c.Count {
			t.Fatalf("%d sources from %d half-open connections", len(c.Sources), c.Count)
		}
		if lines := bytes.Count(data, []byte("\n")) + 1; c.Count > lines {
			t.Fatalf("%d half-open from %d lines", c.Count, lines)
		}
		for a := range c.Sources {
			if a.Is4In6() {
				t.Fatalf("source %v left IPv4-mapped", a)
			}
		}
	})
}

// BenchmarkCountHalfOpen10k counts in a tcp6 file of 10,000 established
// connections, the size of the idle-connection load test.
func BenchmarkCountHalfOpen10k(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
	for i := range 10000 {
		fmt.Fprintf(&buf, "%4d: 0000000000000000FFFF00000100007F:1B6E 0000000000000000FFFF00000100007F:%04X 01 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 20 0 0 10 -1\n", i, 20000+i, 100000+i)
	}
	data := buf.Bytes()
	ports := map[uint16]bool{7022: true}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var c HalfOpen
		if err := CountHalfOpen(bytes.NewReader(data), ports, &c); err != nil {
			b.Fatal(err)
		}
	}
}
