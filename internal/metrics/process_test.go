package metrics

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testdata/self_stat is /proc/PID/stat of a `rexec serve` daemon (the
// binary was named rx-old) a moment after it started; testdata/stat is
// /proc/stat of the 2-CPU host it ran on.
const selfStatLine = "24140 (rx-old) S 1 24137 28349 0 -1 4194560 810 307 2 1 0 1 0 0 20 0 7 0 2188019 1302450176 2642 " +
	"18446744073709551615 4194304 9506193 140734535193872 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0 15233024 15837824 " +
	"161165312 140734535199350 140734535199393 140734535199393 140734535200748 0\n"

func TestParseSelfStat(t *testing.T) {
	fromFile, err := os.ReadFile(filepath.Join("testdata", "self_stat"))
	if err != nil {
		t.Fatal(err)
	}
	captured := selfStat{utime: 0, stime: 1, startTicks: 2188019, vsize: 1302450176, rssPages: 2642}
	cases := []struct {
		name string
		in   string
		want selfStat
	}{
		{"testdata", string(fromFile), captured},
		{"no newline", strings.TrimSuffix(selfStatLine, "\n"), captured},
		{"comm with spaces and parens", strings.Replace(selfStatLine, "(rx-old)", "(a) (b c) ))", 1), captured},
		{"comm with a newline", strings.Replace(selfStatLine, "(rx-old)", "(a\nb)", 1), captured},
		{"empty comm", strings.Replace(selfStatLine, "(rx-old)", "()", 1), captured},
		{"short line", "1 (x) R 0 0 0 0 -1 0 0 0 0 0 100 50 0 0 20 0 1 0 300 4096 7", selfStat{100, 50, 300, 4096, 7}},
	}
	for _, c := range cases {
		got, err := parseSelfStat([]byte(c.in))
		if err != nil || got != c.want {
			t.Errorf("%s: parseSelfStat = %+v, %v, want %+v", c.name, got, err, c.want)
		}
	}
	if s := captured.cpuSeconds(); s != 0.01 {
		t.Errorf("cpuSeconds = %v, want 0.01", s)
	}
	if s := captured.startSeconds(1795667941); s != 1795667941+21880.19 {
		t.Errorf("startSeconds = %v, want %v", s, 1795667941+21880.19)
	}
}

func TestParseSelfStatErrors(t *testing.T) {
	cases := []struct{ name, in string }{
		{"empty", ""},
		{"no parens", "1 x R 0 0 0 0 -1 0 0 0 0 0 100 50 0 0 20 0 1 0 300 4096 7"},
		{"no pid", "(x) R 0 0 0 0 -1 0 0 0 0 0 100 50 0 0 20 0 1 0 300 4096 7"},
		{"pid not a number", "1a (x) R 0 0 0 0 -1 0 0 0 0 0 100 50 0 0 20 0 1 0 300 4096 7"},
		{"no space before comm", "1(x) R 0 0 0 0 -1 0 0 0 0 0 100 50 0 0 20 0 1 0 300 4096 7"},
		{"close before open", "1 )x( R 0 0 0 0 -1 0 0 0 0 0 100 50 0 0 20 0 1 0 300 4096 7"},
		{"too few fields", "1 (x) R 0 0 0 0 -1 0 0 0 0 0 100 50 0 0 20 0 1 0 300 4096"},
		{"utime not a number", "1 (x) R 0 0 0 0 -1 0 0 0 0 0 1x 50 0 0 20 0 1 0 300 4096 7"},
		{"negative rss", "1 (x) R 0 0 0 0 -1 0 0 0 0 0 100 50 0 0 20 0 1 0 300 4096 -7"},
		{"vsize over 64 bits", "1 (x) R 0 0 0 0 -1 0 0 0 0 0 100 50 0 0 20 0 1 0 300 18446744073709551616 7"},
	}
	for _, c := range cases {
		if s, err := parseSelfStat([]byte(c.in)); !errors.Is(err, ErrProcFormat) {
			t.Errorf("%s: parseSelfStat = %+v, %v, want ErrProcFormat", c.name, s, err)
		}
	}
}

func TestParseBootTime(t *testing.T) {
	fromFile, err := os.ReadFile(filepath.Join("testdata", "stat"))
	if err != nil {
		t.Fatal(err)
	}
	longIntr := "intr " + strings.Repeat("0 ", 1<<20) + "\n"
	cases := []struct {
		name string
		in   string
		want int64
	}{
		{"testdata", string(fromFile), 1795667941},
		{"alone", "btime 1700000000\n", 1700000000},
		{"last line without newline", "ctxt 5\nbtime 42", 42},
		{"after a 2 MiB intr line", longIntr + "btime 7\n", 7},
		{"trailing blanks", "btime 9 \n", 9},
		{"first one wins", "btime 1\nbtime 2\n", 1},
		{"largest", "btime 9223372036854775807\n", 1<<63 - 1},
	}
	for _, c := range cases {
		got, err := parseBootTime([]byte(c.in))
		if err != nil || got != c.want {
			t.Errorf("%s: parseBootTime = %d, %v, want %d", c.name, got, err, c.want)
		}
	}
}

func TestParseBootTimeErrors(t *testing.T) {
	cases := []struct{ name, in string }{
		{"empty", ""},
		{"no btime", "cpu 1 2 3\nctxt 5\n"},
		{"not at line start", "xbtime 5\n"},
		{"no value", "btime \n"},
		{"not a number", "btime soon\n"},
		{"negative", "btime -5\n"},
		{"over int64", "btime 9223372036854775808\n"},
	}
	for _, c := range cases {
		if v, err := parseBootTime([]byte(c.in)); !errors.Is(err, ErrProcFormat) {
			t.Errorf("%s: parseBootTime = %d, %v, want ErrProcFormat", c.name, v, err)
		}
	}
}

func FuzzParseSelfStat(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "self_stat"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(strings.Replace(selfStatLine, "(rx-old)", "(a) (b c) ))", 1)))
	f.Add([]byte("1 (x) R 0 0 0 0 -1 0 0 0 0 0 100 50 0 0 20 0 1 0 300 4096 7"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseSelfStat(data)
		if err != nil {
			if !errors.Is(err, ErrProcFormat) {
				t.Fatalf("error %v does not wrap ErrProcFormat", err)
			}
			return
		}
		if bytes.IndexByte(data, '(') < 0 || bytes.LastIndexByte(data, ')') < 0 {
			t.Fatalf("%+v from input without a command name", s)
		}
		if s.cpuSeconds() < 0 || s.startSeconds(0) < 0 {
			t.Fatalf("negative times from %+v", s)
		}
	})
}

func FuzzParseBootTime(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "stat"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("ctxt 5\nbtime 42"))
	f.Add([]byte("btime -5\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parseBootTime(data)
		if err != nil {
			if !errors.Is(err, ErrProcFormat) {
				t.Fatalf("error %v does not wrap ErrProcFormat", err)
			}
			return
		}
		if v < 0 || !bytes.Contains(data, []byte("btime ")) {
			t.Fatalf("btime %d from %q", v, data)
		}
	})
}
