package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// sample returns the i-th record of a made-up session log: starts and ends
// alternating, with every kind of field used somewhere.
func sample(i int) Record {
	r := Record{
		Time:        time.Date(2026, 11, 25, 10, 0, i, 123456789, time.UTC),
		Session:     fmt.Sprintf("s%d", i/2),
		Fingerprint: "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8",
		Comment:     "alice@laptop",
		Remote:      "127.0.0.2:40000",
		Kind:        "exec",
		Argv:        []string{"grep", "a b", "<file & \"x\">"},
	}
	if i%2 == 0 {
		r.Event = EventStart
		return r
	}
	r.Event = EventEnd
	r.Outcome, r.ExitCode = "exited", Code(i%3)
	r.BytesIn, r.BytesOut, r.DurationMS = int64(i), int64(10*i), 7
	r.StdoutSHA = strings.Repeat("ab", 32)
	r.StderrSHA = strings.Repeat("cd", 32)
	return r
}

// writeLog appends n sample records to a new log at a temp path.
func writeLog(t testing.TB, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := OpenWith(path, Options{Sync: SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := l.Append(sample(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAppendVerify(t *testing.T) {
	for _, n := range []int{0, 1, 2, 10, 101} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data := mustRead(t, writeLog(t, n))
			got, err := Verify(bytes.NewReader(data))
			if err != nil || got != n {
				t.Fatalf("Verify = %d, %v, want %d, nil", got, err, n)
			}
			if lines := bytes.Count(data, []byte("\n")); lines != n {
				t.Errorf("log has %d lines, want %d", lines, n)
			}
		})
	}
}

// TestGolden pins the line format byte for byte: field order, omitted
// zero fields, the genesis prev and both hashes.
func TestGolden(t *testing.T) {
	got := mustRead(t, writeLog(t, 4))
	want := mustRead(t, filepath.Join("testdata", "golden.log"))
	if !bytes.Equal(got, want) {
		t.Fatalf("log bytes differ from testdata/golden.log:\ngot:\n%s\nwant:\n%s", got, want)
	}
	if n, err := Verify(bytes.NewReader(want)); n != 4 || err != nil {
		t.Fatalf("Verify(golden) = %d, %v, want 4, nil", n, err)
	}
}

// lineOf returns the 1-based line number holding byte offset off (a newline
// belongs to the line it ends).
func lineOf(data []byte, off int) int {
	return bytes.Count(data[:off], []byte("\n")) + 1
}

// TestEveryByteFlipDetected changes each byte of a log in turn and checks
// that Verify names exactly the record holding that byte: the per-record
// hash makes even the last record's changes visible.
func TestEveryByteFlipDetected(t *testing.T) {
	data := mustRead(t, writeLog(t, 5))
	for off := range data {
		for _, mask := range []byte{0x01, 0x20, 0x80} {
			mod := bytes.Clone(data)
			mod[off] ^= mask
			n, err := Verify(bytes.NewReader(mod))
			var be *BrokenError
			if !errors.As(err, &be) {
				t.Fatalf("flip %#x at byte %d: Verify = %d, %v, want a *BrokenError", mask, off, n, err)
			}
			want := lineOf(data, off)
			if be.Line != want || n != want-1 {
				t.Fatalf("flip %#x at byte %d: Verify = %d, line %d (%v), want %d, line %d", mask, off, n, be.Line, be, want-1, want)
			}
		}
	}
}

// rewrite re-encodes line i (0-based) of data after changing its record
// with edit, recomputing its own hash as a forger would.
func rewrite(t *testing.T, data []byte, i int, edit func(*Record)) []byte {
	t.Helper()
	lines := bytes.SplitAfter(data, []byte("\n"))
	r, err := decode(bytes.TrimSuffix(lines[i], []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	edit(&r)
	line, err := encode(r)
	if err != nil {
		t.Fatal(err)
	}
	lines[i] = line
	return bytes.Join(lines, nil)
}

func TestBroken(t *testing.T) {
	data := mustRead(t, writeLog(t, 6))
	lines := bytes.SplitAfter(data, []byte("\n"))
	join := func(ls ...[]byte) []byte { return bytes.Join(ls, nil) }
	cases := []struct {
		name       string
		data       []byte
		line, seq  int
		reasonPart string
	}{
		{"middle record deleted", join(lines[0], lines[1], lines[3], lines[4], lines[5]), 3, 4, "seq 4 where 3 was due"},
		{"first record deleted", join(lines[1:]...), 1, 2, "seq 2 where 1 was due"},
		{"records swapped", join(lines[0], lines[2], lines[1], lines[3]), 2, 3, "seq 3 where 2 was due"},
		{"cut mid-record at the end", data[:len(data)-10], 6, 6, "incomplete record"},
		{"cut mid-record then appended", join(lines[0], lines[1][:40], lines[2]), 2, 2, "not a JSON record"},
		{"empty line", join(lines[0], []byte("\n"), lines[1]), 2, 2, "not a JSON record"},
		{"garbage line", join(lines[0], []byte("hello\n")), 2, 2, "not a JSON record"},
		{"record rewritten with a fresh hash", rewrite(t, data, 2, func(r *Record) { r.Argv = []string{"true"} }), 4, 4, "prev does not match record 3"},
		{"first prev not genesis", rewrite(t, data, 0, func(r *Record) { r.Prev = strings.Repeat("1", 64) }), 1, 1, "genesis"},
		{"hash not hex", bytes.Replace(data, []byte(`"hash":"`), []byte(`"hash":"Z`), 1), 1, 1, "64 hex digits"},
		{"line too long", join(lines[0], bytes.Repeat([]byte("x"), MaxRecordSize+1)), 2, 2, "longer than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := Verify(bytes.NewReader(c.data))
			var be *BrokenError
			if !errors.As(err, &be) {
				t.Fatalf("Verify = %d, %v, want a *BrokenError", n, err)
			}
			if be.Line != c.line || be.Seq != c.seq || n != c.line-1 || !strings.Contains(be.Reason, c.reasonPart) {
				t.Fatalf("Verify = %d, %v, want %d, record %d (line %d): ...%s...", n, be, c.line-1, c.seq, c.line, c.reasonPart)
			}
			want := fmt.Sprintf("audit: record %d (line %d): ", c.seq, c.line)
			if !strings.HasPrefix(be.Error(), want) {
				t.Errorf("Error() = %q, want prefix %q", be.Error(), want)
			}
		})
	}
}

// TestLastRecordRewrittenLimit documents the limit of any chain in one
// file: a last record rewritten with a recomputed hash, or records cut
// off the end, still verify without an anchor (TestVerifyHead and
// TestCheckpoints show the anchors catching them).
func TestLastRecordRewrittenLimit(t *testing.T) {
	data := mustRead(t, writeLog(t, 3))
	mod := rewrite(t, data, 2, func(r *Record) { r.Outcome = "forged" })
	if n, err := Verify(bytes.NewReader(mod)); n != 3 || err != nil {
		t.Fatalf("Verify = %d, %v; the documented limit changed: update the package doc", n, err)
	}
	cut := data[:bytes.LastIndexByte(data[:len(data)-1], '\n')+1]
	if n, err := Verify(bytes.NewReader(cut)); n != 2 || err != nil {
		t.Fatalf("Verify(cut) = %d, %v, want 2, nil", n, err)
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestVerifyReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Verify(failingReader{boom})
	var be *BrokenError
	if !errors.Is(err, boom) || errors.As(err, &be) {
		t.Fatalf("Verify(failing reader) = %v, want the read error, not a *BrokenError", err)
	}
}
