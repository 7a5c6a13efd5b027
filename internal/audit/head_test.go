package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var parseHeadTests = []struct {
	in      string
	want    Head
	errPart string
}{
	{"5:" + strings.Repeat("ab", 32), Head{5, strings.Repeat("ab", 32)}, ""},
	{" 12:" + strings.Repeat("AB", 32) + "\n", Head{12, strings.Repeat("ab", 32)}, ""},
	{"0:" + Genesis, Head{0, Genesis}, ""},
	{"0:" + strings.Repeat("1", 64), Head{}, "seq 0 is the empty log"},
	{"", Head{}, "want SEQ:HASH"},
	{"5", Head{}, "want SEQ:HASH"},
	{strings.Repeat("ab", 32), Head{}, "want SEQ:HASH"},
	{":" + Genesis, Head{}, "SEQ must be"},
	{"-1:" + Genesis, Head{}, "SEQ must be"},
	{"+1:" + Genesis, Head{}, "SEQ must be"},
	{"1 :" + Genesis, Head{}, "SEQ must be"},
	{"0x10:" + Genesis, Head{}, "SEQ must be"},
	{"1234567890123456789:" + Genesis, Head{}, "SEQ must be"},
	{"5:" + strings.Repeat("ab", 31), Head{}, "64 hex digits"},
	{"5:" + strings.Repeat("ab", 32) + "a", Head{}, "64 hex digits"},
	{"5:" + strings.Repeat("zz", 32), Head{}, "64 hex digits"},
	{"5:" + strings.Repeat("ab", 32) + ":x", Head{}, "64 hex digits"},
	{"5:sha256:" + strings.Repeat("ab", 32), Head{}, "64 hex digits"},
}

func TestParseHead(t *testing.T) {
	for _, tt := range parseHeadTests {
		got, err := ParseHead(tt.in)
		switch {
		case tt.errPart == "" && (err != nil || got != tt.want):
			t.Errorf("ParseHead(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		case tt.errPart != "" && (err == nil || !strings.Contains(err.Error(), tt.errPart)):
			t.Errorf("ParseHead(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.errPart)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("ParseHead(%q): error %q is not one line", tt.in, err)
		}
		if err == nil {
			if again, err := ParseHead(got.String()); err != nil || again != got {
				t.Errorf("ParseHead(%q).String() = %q does not parse back: %v, %v", tt.in, got, again, err)
			}
		}
	}
}

// FuzzParseHead: no panic; what parses prints back to itself and parses
// to the same head.
func FuzzParseHead(f *testing.F) {
	for _, tt := range parseHeadTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHead(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if h.Seq < 0 || len(h.Hash) != hashLen || !isLowerHex(h.Hash) {
			t.Fatalf("ParseHead(%q) = %+v", s, h)
		}
		if again, err := ParseHead(h.String()); err != nil || again != h {
			t.Fatalf("round trip of %q: %v, %v", s, again, err)
		}
	})
}

// headOf is the head `rexec audit head` prints for data.
func headOf(t *testing.T, data []byte) Head {
	t.Helper()
	h, err := ReadHead(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// rechain cuts data after its first keep records and appends n new
// records through Open, as an attacker with the library would: the result
// is a valid chain.
func rechain(t *testing.T, data []byte, keep, n int) []byte {
	t.Helper()
	lines := bytes.SplitAfter(data, []byte("\n"))
	path := filepath.Join(t.TempDir(), "rechained.log")
	if err := os.WriteFile(path, bytes.Join(lines[:keep], nil), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := OpenWith(path, Options{Sync: SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		r := sample(keep + i)
		r.Argv = []string{"forged"}
		if err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out := mustRead(t, path)
	if got, err := Verify(bytes.NewReader(out)); err != nil || got != keep+n {
		t.Fatalf("the re-chained log does not verify: %d, %v", got, err)
	}
	return out
}

// TestVerifyHead: a head noted before the log was cut, shortened or
// rewritten makes VerifyWith fail on every such change, while the
// untouched log, and the log grown by honest records, pass.
func TestVerifyHead(t *testing.T) {
	data := mustRead(t, writeLog(t, 8))
	head := headOf(t, data)
	if head.Seq != 8 {
		t.Fatalf("head = %v, want seq 8", head)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	boundary := func(k int) []byte { return bytes.Join(lines[:k], nil) }
	grown := func() []byte {
		path := filepath.Join(t.TempDir(), "grown.log")
		os.WriteFile(path, data, 0o600)
		l, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if err := l.Append(sample(8 + i)); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
		return mustRead(t, path)
	}()
	cases := []struct {
		name       string
		data       []byte
		seq        int // of the BrokenError; 0: must pass
		reasonPart string
	}{
		{"untouched", data, 0, ""},
		{"honest records appended after the head", grown, 0, ""},
		{"cut mid-file", data[:len(boundary(4))+20], 5, "incomplete record"},
		{"cut mid-last-record", data[:len(data)-5], 8, "incomplete record"},
		{"cut at a record boundary", boundary(5), 8, "the log ends at record 5"},
		{"emptied", nil, 8, "the log ends at record 0"},
		{"last record deleted", boundary(7), 8, "the log ends at record 7"},
		{"last record rewritten", rewrite(t, data, 7, func(r *Record) { r.Outcome = "forged" }), 8, "is not the head's"},
		{"tail deleted and re-chained, same count", rechain(t, data, 5, 3), 8, "is not the head's"},
		{"tail deleted and re-chained, more records", rechain(t, data, 5, 6), 8, "is not the head's"},
		{"last record re-chained", rechain(t, data, 7, 1), 8, "is not the head's"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := VerifyWith(bytes.NewReader(c.data), VerifyOptions{Head: &head})
			if c.reasonPart == "" {
				if err != nil || rep.Records < head.Seq {
					t.Fatalf("VerifyWith(head %v) = %+v, %v; want it to pass", head, rep, err)
				}
				return
			}
			var be *BrokenError
			if !errors.As(err, &be) || !strings.Contains(be.Reason, c.reasonPart) {
				t.Fatalf("VerifyWith(head %v) = %+v, %v; want a *BrokenError with %q", head, rep, err, c.reasonPart)
			}
			if c.seq != 0 && be.Seq != c.seq {
				t.Errorf("BrokenError names record %d, want %d: %v", be.Seq, c.seq, be)
			}
			// Without the head, a cut mid-record fails on its own, while
			// the cuts at a boundary and the rewritten ends verify: the
			// head is what catches them.
			_, err = Verify(bytes.NewReader(c.data))
			if midRecord := strings.Contains(c.reasonPart, "incomplete"); (err != nil) != midRecord {
				t.Errorf("plain Verify = %v; want an error only for a cut mid-record", err)
			}
		})
	}

	// An earlier head stays valid as the log grows; the empty log's
	// head is in every log.
	for _, h := range []Head{headOf(t, boundary(3)), {0, Genesis}} {
		if _, err := VerifyWith(bytes.NewReader(grown), VerifyOptions{Head: &h}); err != nil {
			t.Errorf("VerifyWith(earlier head %v) = %v", h, err)
		}
	}
}

// TestLogHead: Log.Head follows Append and survives a reopen, and agrees
// with ReadHead on the file.
func TestLogHead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if h := l.Head(); h != (Head{0, Genesis}) {
		t.Errorf("head of an empty log = %v", h)
	}
	for i := range 3 {
		if err := l.Append(sample(i)); err != nil {
			t.Fatal(err)
		}
	}
	h := l.Head()
	l.Close()
	if got := headOf(t, mustRead(t, path)); got != h || h.Seq != 3 {
		t.Fatalf("Log.Head = %v, ReadHead = %v", h, got)
	}
	l, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := l.Head(); got != h {
		t.Errorf("head after reopen = %v, want %v", got, h)
	}
	if _, err := ReadHead(bytes.NewReader([]byte("garbage\n"))); err == nil {
		t.Error("ReadHead of a broken log succeeded")
	}
}

// TestDurableHeadSyncs: under SyncNever the head Watch reports is synced
// first, and a failed sync fails the Log as a failed write does; under
// SyncEvery no sync is needed, so a dead descriptor goes unnoticed until
// the next Append.
func TestDurableHeadSyncs(t *testing.T) {
	for _, tt := range []struct {
		policy SyncPolicy
		fails  bool
	}{{SyncNever, true}, {SyncEnd, true}, {SyncEvery, false}} {
		path := filepath.Join(t.TempDir(), "audit.log")
		l, err := OpenWith(path, Options{Sync: tt.policy})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Append(sample(0)); err != nil {
			t.Fatal(err)
		}
		want := l.Head()
		l.f.Close() // the descriptor goes away under the Log: fsync fails
		if h := l.durableHead(); h != want {
			t.Errorf("policy %d: durableHead = %v, want %v", tt.policy, h, want)
		}
		l.mu.Lock()
		failed := errors.Is(l.err, ErrFailed)
		l.mu.Unlock()
		if failed != tt.fails {
			t.Errorf("policy %d: Log failed after durableHead = %v, want %v", tt.policy, failed, tt.fails)
		}
		l.Close()
	}
}
