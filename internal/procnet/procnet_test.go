package procnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// The hex lines below were printed by a little-endian kernel.
func skipBigEndian(t testing.TB) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the test lines were printed by a little-endian kernel")
	}
}

func (s Socket) String() string {
	return fmt.Sprintf("%s %s %02X uid=%d inode=%d", s.Local, s.Remote, uint8(s.State), s.UID, s.Inode)
}

var lineTests = []struct {
	name, line, want string
}{
	{"ipv4 listener",
		"   0: 0100007F:1B70 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 482960 1 0000000075c7c1b0 100 0 0 10 0",
		"127.0.0.1:7024 0.0.0.0:0 0A uid=0 inode=482960"},
	{"ipv4 client of another uid",
		"   4: 0100007F:D2F0 0100007F:1F91 01 00000000:00000000 00:00000000 00000000 65534        0 1194387 1 00000000d3a3a1b3 20 4 30 10 -1",
		"127.0.0.1:54000 127.0.0.1:8081 01 uid=65534 inode=1194387"},
	{"ipv4 time wait: no owner",
		"   7: 0100007F:A9C2 0100007F:1F90 06 00000000:00000000 03:000016F0 00000000     0        0 0 3 0000000000000000",
		"127.0.0.1:43458 127.0.0.1:8080 06 uid=0 inode=0"},
	{"ipv4 syn recv from a documentation address",
		"  16: 0100007F:1B6E 076433C6:C350 03 00000000:00000000 01:00000046 00000000     0        0 0 0 00000000a1b2c3d6",
		"127.0.0.1:7022 198.51.100.7:50000 03 uid=0 inode=0"},
	{"ipv6 loopback",
		"   2: 00000000000000000000000001000000:E968 00000000000000000000000001000000:1B6E 01 00000000:00000000 00:00000000 00000000  1000        0 482961 2 00000000181f2141 20 0 0 10 -1",
		"[::1]:59752 [::1]:7022 01 uid=1000 inode=482961"},
	{"ipv4-mapped in tcp6",
		"   5: 0000000000000000FFFF00000100007F:99AF 0000000000000000FFFF0000E3074D7F:55D8 01 00000000:00000000 00:00000000 00000000     0        0 77 1 000000002de40643",
		"[::ffff:127.0.0.1]:39343 [::ffff:127.77.7.227]:21976 01 uid=0 inode=77"},
	{"ipv6 documentation address",
		"  17: 00000000000000000000000001000000:1B6E B80D0120000000000000000001000000:01BB 03 00000000:00000000 01:00000048 00000000     0        0 0 0 00000000a1b2c3d8",
		"[::1]:7022 [2001:db8::1]:443 03 uid=0 inode=0"},
	{"ipv6 any listener, tabs and lowercase hex",
		"\t0:\t00000000000000000000000000000000:1b6f 00000000000000000000000000000000:0000 0a 00000000:00000000 00:00000000 00000000 4294967295 0 18446744073709551615",
		"[::]:7023 [::]:0 0A uid=4294967295 inode=18446744073709551615"},
}

var badLineTests = []struct{ name, line string }{
	{"empty", ""},
	{"too few columns", "   0: 0100007F:1B70 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0"},
	{"no slot colon", "   0 0100007F:1B70 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1"},
	{"short address", "   0: 00007F:1B70 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1"},
	{"address of 16 digits", "   0: 0100007F0100007F:1B70 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1"},
	{"no port", "   0: 0100007F 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1"},
	{"port of 5 digits", "   0: 0100007F:01B70 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1"},
	{"signed port", "   0: 0100007F:+B70 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1"},
	{"hex prefix in address", "   0: 0x00007F:1B70 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1"},
	{"bad remote", "   0: 0100007F:1B70 0000000G:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1"},
	{"state of 1 digit", "   0: 0100007F:1B70 00000000:0000 A 00000000:00000000 00:00000000 00000000 0 0 1"},
	{"state not hex", "   0: 0100007F:1B70 00000000:0000 ZZ 00000000:00000000 00:00000000 00000000 0 0 1"},
	{"negative uid", "   0: 0100007F:1B70 00000000:0000 0A 00000000:00000000 00:00000000 00000000 -1 0 1"},
	{"signed uid", "   0: 0100007F:1B70 00000000:0000 0A 00000000:00000000 00:00000000 00000000 +1 0 1"},
	{"uid over 32 bits", "   0: 0100007F:1B70 00000000:0000 0A 00000000:00000000 00:00000000 00000000 4294967296 0 1"},
	{"uid in hex", "   0: 0100007F:1B70 00000000:0000 0A 00000000:00000000 00:00000000 00000000 3E8 0 1"},
	{"inode over 64 bits", "   0: 0100007F:1B70 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 18446744073709551616"},
	{"inode not a number", "   0: 0100007F:1B70 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 x"},
}

func TestParseLine(t *testing.T) {
	skipBigEndian(t)
	for _, tt := range lineTests {
		s, err := ParseLine(tt.line)
		if err != nil || s.String() != tt.want {
			t.Errorf("%s: ParseLine = %v, %v; want %s", tt.name, s, err, tt.want)
		}
	}
	for _, tt := range badLineTests {
		if s, err := ParseLine(tt.line); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: ParseLine(%q) = %v, %v; want ErrFormat", tt.name, tt.line, s, err)
		}
	}
}

func TestOwned(t *testing.T) {
	tests := []struct {
		s    Socket
		want bool
	}{
		{Socket{State: Established, UID: 1000, Inode: 5}, true},
		{Socket{State: FinWait2, UID: 0, Inode: 5}, true},
		{Socket{State: Established, UID: 0, Inode: 0}, false},
		{Socket{State: TimeWait, UID: 0, Inode: 0}, false},
		{Socket{State: TimeWait, UID: 0, Inode: 9}, false},
	}
	for _, tt := range tests {
		if got := tt.s.Owned(); got != tt.want {
			t.Errorf("%v.Owned() = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestScan(t *testing.T) {
	skipBigEndian(t)
	header := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	var in strings.Builder
	in.WriteString(header)
	for _, tt := range lineTests {
		in.WriteString(tt.line + "\n")
	}
	var got []string
	if err := Scan(strings.NewReader(in.String()), func(s Socket) bool { got = append(got, s.String()); return true }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(lineTests) {
		t.Fatalf("Scan found %d rows, want %d", len(got), len(lineTests))
	}
	for i, tt := range lineTests {
		if got[i] != tt.want {
			t.Errorf("row %d = %s, want %s", i, got[i], tt.want)
		}
	}
	n := 0
	Scan(strings.NewReader(in.String()), func(Socket) bool { n++; return n < 2 })
	if n != 2 {
		t.Errorf("Scan went on after fn returned false: %d calls", n)
	}
	bad := header + lineTests[0].line + "\n" + badLineTests[3].line + "\n"
	if err := Scan(strings.NewReader(bad), func(Socket) bool { return true }); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("Scan of a bad third line = %v, want ErrFormat naming line 3", err)
	}
	long := header + strings.Repeat("x", MaxLine+1) + "\n"
	if err := Scan(strings.NewReader(long), func(Socket) bool { return true }); !errors.Is(err, ErrFormat) {
		t.Errorf("Scan of a line over MaxLine = %v, want ErrFormat", err)
	}
}

// formatAddrPort prints ap as the kernel does, for the round trip.
func formatAddrPort(ap netip.AddrPort) string {
	b := ap.Addr().AsSlice()
	var s strings.Builder
	for i := 0; i < len(b); i += 4 {
		fmt.Fprintf(&s, "%08X", binary.NativeEndian.Uint32(b[i:]))
	}
	fmt.Fprintf(&s, ":%04X", ap.Port())
	return s.String()
}

func FuzzParseLine(f *testing.F) {
	for _, tt := range lineTests {
		f.Add(tt.line)
	}
	for _, tt := range badLineTests {
		f.Add(tt.line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		s, err := ParseLine(line)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("ParseLine error %v does not wrap ErrFormat", err)
			}
			return
		}
		for _, ap := range []netip.AddrPort{s.Local, s.Remote} {
			again, err := ParseAddrPort(formatAddrPort(ap))
			if err != nil || again != ap {
				t.Fatalf("address %v printed as %s reads back as %v, %v", ap, formatAddrPort(ap), again, err)
			}
		}
		if strings.Contains(line, "\n") || len(line) >= MaxLine {
			return
		}
		var rows []Socket
		if err := Scan(strings.NewReader(line), func(s Socket) bool { rows = append(rows, s); return true }); err != nil || len(rows) != 1 || rows[0] != s {
			t.Fatalf("ParseLine(%q) = %v but Scan gives %v, %v", line, s, rows, err)
		}
	})
}
