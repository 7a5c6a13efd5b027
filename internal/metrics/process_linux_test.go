package metrics

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// fakeNetstat is self/net/netstat of the fake /proc: a TcpExt pair, then
// IpExt with the byte counters.
const fakeNetstat = "TcpExt: SyncookiesSent ListenDrops\nTcpExt: 0 0\n" +
	"IpExt: InNoRoutes InTruncatedPkts InOctets OutOctets\nIpExt: 0 0 123456789 987654321\n"

// fakeSelfProc builds a /proc with testdata's self_stat and stat, fds
// entries in self/fd and fakeNetstat, and returns its root.
func fakeSelfProc(t *testing.T, fds int) string {
	t.Helper()
	root := t.TempDir()
	for _, dir := range []string{"fd", "net"} {
		if err := os.MkdirAll(filepath.Join(root, "self", dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "self", "net", "netstat"), []byte(fakeNetstat), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"self_stat", "stat"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, strings.ReplaceAll(name, "_", "/")), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range fds {
		if err := os.WriteFile(filepath.Join(root, "self", "fd", strconv.Itoa(i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// withoutLimits drops process_max_fds and process_virtual_memory_max_bytes,
// the families read from the running process (getrlimit) rather than
// from root.
func withoutLimits(fams []family) []family {
	return slices.DeleteFunc(fams, func(f family) bool { return f.desc == &processMaxFDs || f.desc == &processVirtualMaxBytes })
}

// TestProcessGolden: the process families read from a fake /proc, byte
// for byte (regenerate with -update and review the diff).
func TestProcessGolden(t *testing.T) {
	checkGolden(t, "process.golden", appendExposition(nil, withoutLimits(appendProcFS(nil, fakeSelfProc(t, 5), 4096))))
}

// TestProcessPartial: a family whose source is missing or broken is left
// out, the others stay.
func TestProcessPartial(t *testing.T) {
	names := func(fams []family) []string {
		var out []string
		for _, f := range fams {
			out = append(out, f.name)
		}
		slices.Sort(out)
		return out
	}
	noStat := fakeSelfProc(t, 2)
	os.Remove(filepath.Join(noStat, "stat"))
	badSelf := fakeSelfProc(t, 2)
	os.WriteFile(filepath.Join(badSelf, "self", "stat"), []byte("garbage"), 0o644)
	noFD := fakeSelfProc(t, 0)
	os.Remove(filepath.Join(noFD, "self", "fd"))
	badNet := fakeSelfProc(t, 2)
	os.WriteFile(filepath.Join(badNet, "self", "net", "netstat"), []byte("IpExt: InOctets\n"), 0o644)
	noOctets := fakeSelfProc(t, 2)
	os.WriteFile(filepath.Join(noOctets, "self", "net", "netstat"), []byte("IpExt: InOctets\nIpExt: 5\n"), 0o644)
	stat := []string{"process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes"}
	limits := []string{"process_max_fds", "process_virtual_memory_max_bytes"}
	net := []string{"process_network_receive_bytes_total", "process_network_transmit_bytes_total"}
	all := slices.Concat(stat, limits, net, []string{"process_open_fds", "process_start_time_seconds"})
	cases := []struct {
		name, root string
		want       []string
	}{
		{"no /proc/stat", noStat, slices.Concat(stat, limits, net, []string{"process_open_fds"})},
		{"bad self/stat", badSelf, slices.Concat(limits, net, []string{"process_open_fds"})},
		{"no self/fd", noFD, slices.Concat(stat, limits, net, []string{"process_start_time_seconds"})},
		{"bad self/net/netstat", badNet, slices.DeleteFunc(slices.Clone(all), func(s string) bool { return slices.Contains(net, s) })},
		{"no OutOctets", noOctets, slices.DeleteFunc(slices.Clone(all), func(s string) bool { return slices.Contains(net, s) })},
		{"nothing", t.TempDir(), limits},
	}
	for _, c := range cases {
		got := names(appendProcFS(nil, c.root, 4096))
		slices.Sort(c.want)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: families %v, want %v", c.name, got, c.want)
		}
	}
}

// TestProcessReal: the figures of this test process are plausible and
// agree with getrlimit.
func TestProcessReal(t *testing.T) {
	f, err := os.Open(os.DevNull) // one descriptor more than stdin, stdout, stderr
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rl, as syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &as); err != nil {
		t.Fatal(err)
	}
	fams := parseExposition(t, appendExposition(nil, appendProcess(nil)))
	for name, ok := range map[string]func(float64) bool{
		"process_cpu_seconds_total":        func(v float64) bool { return v >= 0 },
		"process_resident_memory_bytes":    func(v float64) bool { return v >= 1<<20 },
		"process_virtual_memory_bytes":     func(v float64) bool { return v >= 1<<20 },
		"process_open_fds":                 func(v float64) bool { return v >= 4 },
		"process_max_fds":                  func(v float64) bool { return v == float64(rl.Cur) },
		"process_start_time_seconds":       func(v float64) bool { return v > 1.5e9 },
		"process_virtual_memory_max_bytes": func(v float64) bool { return v == float64(as.Cur) },
		// The namespace's counters: at least what the loopback
		// connections of the other tests moved, maybe nothing yet.
		"process_network_receive_bytes_total":  func(v float64) bool { return v >= 0 },
		"process_network_transmit_bytes_total": func(v float64) bool { return v >= 0 },
	} {
		if v, present := seriesValue(fams[name]); !present || !ok(v) {
			t.Errorf("%s = %v (present %v), implausible", name, v, present)
		}
	}
}
