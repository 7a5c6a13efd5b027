package metrics

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .golden files in testdata")

// The testdata files were captured on a little-endian machine: tcp, tcp6
// and netstat from a host with a few loopback connections (IPv4, ::1 and
// an IPv4 client of a dual-stack listener), the SYN_RECV lines of tcp6 and
// netstat_flood from TestSYNFloodNetns (REXEC_SYN_CAPTURE), plus
// hand-written SYN_RECV lines from documentation addresses (192.0.2.0/24,
// 198.51.100.0/24, 2001:db8::/32) at the end of tcp and tcp6.
func skipBigEndian(t testing.TB) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("testdata was captured on a little-endian machine")
	}
}

func openTestdata(t testing.TB, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func (e tcpEntry) String() string {
	return fmt.Sprintf("%s %s %02X", e.local, e.remote, e.state)
}

// TestDecodeLines checks the address decoding by hand on one line of each
// kind.
func TestDecodeLines(t *testing.T) {
	skipBigEndian(t)
	cases := []struct{ line, want string }{
		{"   0: 0100007F:1B70 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 482960 1 0000000075c7c1b0 100 0 0 10 0",
			"127.0.0.1:7024 0.0.0.0:0 0A"},
		{"  16: 0100007F:1B6E 076433C6:C350 03 00000000:00000000 01:00000046 00000000     0        0 0 0 00000000a1b2c3d6",
			"127.0.0.1:7022 198.51.100.7:50000 03"},
		{"   2: 00000000000000000000000001000000:E968 00000000000000000000000001000000:1B6E 01 00000000:00000000 00:00000000 00000000     0        0 482961 2 00000000181f2141 20 0 0 10 -1",
			"[::1]:59752 [::1]:7022 01"},
		{"   5: 0000000000000000FFFF00000100007F:99AF 0000000000000000FFFF0000E3074D7F:55D8 03 00000000:00000000 01:00000048 00000000     0        0 0 0 000000002de40643",
			"127.0.0.1:39343 127.77.7.227:21976 03"},
		{"  17: 00000000000000000000000001000000:1B6E B80D0120000000000000000001000000:01BB 03 00000000:00000000 01:00000048 00000000     0        0 0 0 00000000a1b2c3d8",
			"[::1]:7022 [2001:db8::1]:443 03"},
		{"   0: 00000000000000000000000000000000:1B6F 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 482959 1 00000000bb087f1f 100 0 0 10 0",
			"[::]:7023 [::]:0 0A"},
	}
	for _, c := range cases {
		e, err := parseTCPLine(c.line)
		if err != nil || e.String() != c.want {
			t.Errorf("parseTCPLine(%.40q...) = %v, %v, want %s", c.line, e, err, c.want)
		}
	}
}

// TestGoldenDecode decodes every line of the captured files; the .golden
// files hold the result, one line each (regenerate with -update and
// review the diff).
func TestGoldenDecode(t *testing.T) {
	skipBigEndian(t)
	for _, name := range []string{"tcp", "tcp6"} {
		t.Run(name, func(t *testing.T) {
			var got bytes.Buffer
			if err := scanTCP(openTestdata(t, name), func(e tcpEntry) { fmt.Fprintln(&got, e) }); err != nil {
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

func TestParseProcNetTCP(t *testing.T) {
	skipBigEndian(t)
	cases := []struct {
		file    string
		ports   []uint16
		want    int
		sources []string
	}{
		{"tcp", nil, 4, []string{"192.0.2.5", "192.0.2.9", "198.51.100.7"}},
		{"tcp", []uint16{7022}, 3, []string{"192.0.2.5", "198.51.100.7"}},
		{"tcp", []uint16{7023, 7024}, 0, nil},
		{"tcp6", []uint16{7022}, 1, []string{"2001:db8::1"}},
		{"tcp6", []uint16{39343}, 10, []string{"127.77.1.248", "127.77.1.27", "127.77.12.34", "127.77.12.98",
			"127.77.14.47", "127.77.14.89", "127.77.15.80", "127.77.2.50", "127.77.2.63", "127.77.7.227"}},
		{"tcp6", nil, 11, nil}, // sources checked by count only
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.file, c.ports), func(t *testing.T) {
			ports := map[uint16]bool{}
			for _, p := range c.ports {
				ports[p] = true
			}
			n, src, err := ParseProcNetTCP(openTestdata(t, c.file), ports)
			if err != nil {
				t.Fatal(err)
			}
			got := slices.Sorted(maps.Keys(src))
			if n != c.want || c.sources != nil && !slices.Equal(got, c.sources) {
				t.Errorf("ParseProcNetTCP(%s, %v) = %d, %v, want %d, %v", c.file, c.ports, n, got, c.want, c.sources)
			}
		})
	}
}

func TestParseProcNetTCPErrors(t *testing.T) {
	const header = "  sl  local_address rem_address   st tx_queue\n"
	good := "   0: 0100007F:1B6E 050200C0:9C40 03 00000000:00000000\n"
	cases := []struct{ name, in string }{
		{"too few fields", header + "   0: 0100007F:1B6E 050200C0:9C40\n"},
		{"no slot colon", header + "   0 0100007F:1B6E 050200C0:9C40 03\n"},
		{"short address", header + "   0: 0100007:1B6E 050200C0:9C40 03\n"},
		{"odd address", header + "   0: 0100007F0:1B6E 050200C0:9C40 03\n"},
		{"not hex", header + "   0: 0100007G:1B6E 050200C0:9C40 03\n"},
		{"bad port", header + "   0: 0100007F:1B6 050200C0:9C40 03\n"},
		{"bad state", header + "   0: 0100007F:1B6E 050200C0:9C40 3\n"},
		{"state not hex", header + "   0: 0100007F:1B6E 050200C0:9C40 0x\n"},
		{"header in the middle", header + good + header},
		{"line too long", header + good + strings.Repeat("x", maxProcLine+1) + "\n"},
	}
	for _, c := range cases {
		_, _, err := ParseProcNetTCP(strings.NewReader(c.in), nil)
		if !errors.Is(err, ErrProcFormat) {
			t.Errorf("%s: err = %v, want ErrProcFormat", c.name, err)
		}
	}
	if n, _, err := ParseProcNetTCP(strings.NewReader(header+good), nil); n != 1 || err != nil {
		t.Errorf("good line: %d, %v, want 1, nil", n, err)
	}
	if n, _, err := ParseProcNetTCP(strings.NewReader(""), nil); n != 0 || err != nil {
		t.Errorf("empty file: %d, %v, want 0, nil", n, err)
	}
}

func TestParseNetstat(t *testing.T) {
	cases := []struct {
		file string
		want map[string]int64
	}{
		{"netstat", map[string]int64{SyncookiesSent: 0, ListenOverflows: 0, ListenDrops: 0, TCPReqQFullDoCookies: 0,
			"SyncookiesFailed": 1, "PruneCalled": 163, "TW": 11779}},
		{"netstat_flood", map[string]int64{SyncookiesSent: 908, ListenOverflows: 0, ListenDrops: 0, TCPReqQFullDoCookies: 908}},
	}
	for _, c := range cases {
		got, err := ParseNetstat(openTestdata(t, c.file))
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if len(got) != 135 {
			t.Errorf("%s: %d TcpExt counters, want 135", c.file, len(got))
		}
		for k, v := range c.want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%s: %s = %d (present %v), want %d", c.file, k, g, ok, v)
			}
		}
		if _, ok := got["InOctets"]; ok {
			t.Errorf("%s: IpExt counters leaked into the TcpExt map", c.file)
		}
	}
}

func TestParseNetstatErrors(t *testing.T) {
	cases := []struct{ name, in string }{
		{"empty", ""},
		{"no TcpExt", "IpExt: InNoRoutes\nIpExt: 0\n"},
		{"header only", "TcpExt: A B\n"},
		{"count mismatch", "TcpExt: A B\nTcpExt: 1\n"},
		{"prefix mismatch", "TcpExt: A\nIpExt: 1\n"},
		{"no colon", "TcpExt A\nTcpExt 1\n"},
		{"negative", "TcpExt: A\nTcpExt: -1\n"},
		{"over int64", "TcpExt: A\nTcpExt: 9223372036854775808\n"},
		{"not a number", "TcpExt: A\nTcpExt: x\n"},
		{"blank pair", "\n\n"},
	}
	for _, c := range cases {
		if _, err := ParseNetstat(strings.NewReader(c.in)); !errors.Is(err, ErrProcFormat) {
			t.Errorf("%s: err = %v, want ErrProcFormat", c.name, err)
		}
	}
}

func FuzzParseProcNetTCP(f *testing.F) {
	for _, name := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("   0: 0100007F:1B6E 050200C0:9C40 03\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, src, err := ParseProcNetTCP(bytes.NewReader(data), nil)
		if err != nil && !errors.Is(err, ErrProcFormat) {
			t.Fatalf("error %v does not wrap ErrProcFormat", err)
		}
		if len(src) > n {
			t.Fatalf("%d sources from %d half-open connections", len(src), n)
		}
		if err == nil && n > bytes.Count(data, []byte("\n"))+1 {
			t.Fatalf("%d half-open from %d lines", n, bytes.Count(data, []byte("\n"))+1)
		}
	})
}

func FuzzParseNetstat(f *testing.F) {
	for _, name := range []string{"netstat", "netstat_flood"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("TcpExt: A B\nTcpExt: 1 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseNetstat(bytes.NewReader(data))
		if err != nil && !errors.Is(err, ErrProcFormat) {
			t.Fatalf("error %v does not wrap ErrProcFormat", err)
		}
		if err == nil && m == nil {
			t.Fatal("nil map without an error")
		}
		for k, v := range m {
			if v < 0 || k == "" {
				t.Fatalf("counter %q = %d", k, v)
			}
		}
	})
}

// BenchmarkParseProcNetTCP10k parses a tcp6 file of 10,000 established
// connections, the size of the idle-connection test.
func BenchmarkParseProcNetTCP10k(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
	for i := range 10000 {
		fmt.Fprintf(&buf, "%4d: 0000000000000000FFFF00000100007F:1B6E 0000000000000000FFFF00000100007F:%04X 01 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 20 0 0 10 -1\n", i, 20000+i, 100000+i)
	}
	data := buf.Bytes()
	ports := map[uint16]bool{7022: true}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := ParseProcNetTCP(bytes.NewReader(data), ports); err != nil {
			b.Fatal(err)
		}
	}
}
