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

// fakeSelfProc builds a /proc with testdata's self_stat and stat and fds
// entries in self/fd, and returns its root.
func fakeSelfProc(t *testing.T, fds int) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "self", "fd"), 0o755); err != nil {
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

// withoutMaxFDs drops process_max_fds, the one family read from the
// running process (getrlimit) rather than from root.
func withoutMaxFDs(fams []family) []family {
	return slices.DeleteFunc(fams, func(f family) bool { return f.desc == &processMaxFDs })
}

// TestProcessGolden: the process families read from a fake /proc, byte
// for byte (regenerate with -update and review the diff).
func TestProcessGolden(t *testing.T) {
	checkGolden(t, "process.golden", appendExposition(nil, withoutMaxFDs(appendProcFS(nil, fakeSelfProc(t, 5), 4096))))
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
	stat := []string{"process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes"}
	cases := []struct {
		name, root string
		want       []string
	}{
		{"no /proc/stat", noStat, append(slices.Clone(stat), "process_max_fds", "process_open_fds")},
		{"bad self/stat", badSelf, []string{"process_max_fds", "process_open_fds"}},
		{"no self/fd", noFD, append(slices.Clone(stat), "process_max_fds", "process_start_time_seconds")},
		{"nothing", t.TempDir(), []string{"process_max_fds"}},
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
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	fams := parseExposition(t, appendExposition(nil, appendProcess(nil)))
	for name, ok := range map[string]func(float64) bool{
		"process_cpu_seconds_total":     func(v float64) bool { return v >= 0 },
		"process_resident_memory_bytes": func(v float64) bool { return v >= 1<<20 },
		"process_virtual_memory_bytes":  func(v float64) bool { return v >= 1<<20 },
		"process_open_fds":              func(v float64) bool { return v >= 4 },
		"process_max_fds":               func(v float64) bool { return v == float64(rl.Cur) },
		"process_start_time_seconds":    func(v float64) bool { return v > 1.5e9 },
	} {
		if v, present := seriesValue(fams[name]); !present || !ok(v) {
			t.Errorf("%s = %v (present %v), implausible", name, v, present)
		}
	}
}
