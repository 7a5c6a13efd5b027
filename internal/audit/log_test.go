package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func verifyFile(t *testing.T, path string) int {
	t.Helper()
	n, err := Verify(bytes.NewReader(mustRead(t, path)))
	if err != nil {
		t.Fatalf("Verify(%s) = %d, %v", path, n, err)
	}
	return n
}

func TestReopenContinuesChain(t *testing.T) {
	path := writeLog(t, 3)
	for round := range 3 {
		l, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if err := l.Append(sample(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if n, want := verifyFile(t, path), 3+2*(round+1); n != want {
			t.Fatalf("round %d: Verify = %d records, want %d", round, n, want)
		}
	}
}

func TestOpenCreates0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	if l.Path() != path {
		t.Errorf("Path() = %q, want %q", l.Path(), path)
	}
}

// TestOpenRefusesCorruptTail: a log whose last line is not an intact
// record cannot be continued (fail closed), and the file is left as it was.
func TestOpenRefusesCorruptTail(t *testing.T) {
	good := mustRead(t, writeLog(t, 3))
	cases := []struct {
		name string
		data []byte
	}{
		{"cut mid-record", good[:len(good)-5]},
		{"no final newline", good[:len(good)-1]},
		{"last record changed", append(bytes.Clone(good[:len(good)-20]), 'x', good[len(good)-19], '}', '\n')},
		{"garbage appended", append(bytes.Clone(good), "not json\n"...)},
		{"only garbage", []byte("hello\n")},
		{"one line too long", bytes.Repeat([]byte("x"), MaxRecordSize+10)},
		{"last line too long", append(bytes.Clone(good), append(bytes.Repeat([]byte("y"), MaxRecordSize+10), '\n')...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			if err := os.WriteFile(path, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			l, err := Open(path)
			if !errors.Is(err, ErrCorrupt) {
				if l != nil {
					l.Close()
				}
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
			if after := mustRead(t, path); !bytes.Equal(after, c.data) {
				t.Errorf("Open changed the refused file")
			}
		})
	}
}

func TestOpenSecondWriterRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock on windows")
	}
	path := writeLog(t, 1)
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l2, err := Open(path)
	if !errors.Is(err, ErrLocked) {
		if l2 != nil {
			l2.Close()
		}
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
}

func TestConcurrentAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := OpenWith(path, Options{Sync: SyncEnd})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				r := sample(i)
				r.Session = fmt.Sprintf("w%d-%d", w, i)
				if err := l.Append(r); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := verifyFile(t, path); n != workers*each {
		t.Fatalf("Verify = %d records, want %d", n, workers*each)
	}
}

func TestAppendFillsFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	local := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	for _, r := range []Record{{Event: EventStart}, {Event: EventEnd, Time: local}} {
		if err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	lines := bytes.Split(bytes.TrimSpace(mustRead(t, path)), []byte("\n"))
	r1, err1 := decode(lines[0])
	r2, err2 := decode(lines[1])
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if r1.Seq != 1 || r2.Seq != 2 || r1.Prev != Genesis || r2.Prev != lineHash(lines[0]) {
		t.Errorf("seq/prev = %d %s, %d %s", r1.Seq, r1.Prev, r2.Seq, r2.Prev)
	}
	if r1.Time.Before(before.Add(-time.Second)) || r1.Time.Location() != time.UTC {
		t.Errorf("zero time filled as %v, want now in UTC", r1.Time)
	}
	if !bytes.Contains(lines[1], []byte(`"time":"2026-01-02T02:04:05.000000006Z"`)) {
		t.Errorf("given time not written in UTC: %s", lines[1])
	}
}

func TestAppendTooLargeKeepsLogUsable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	big := Record{Event: EventStart, Command: strings.Repeat("x", MaxRecordSize)}
	if err := l.Append(big); err == nil || errors.Is(err, ErrFailed) {
		t.Fatalf("Append(too large) = %v, want a refusal that does not fail the log", err)
	}
	if err := l.Append(sample(0)); err != nil {
		t.Fatalf("Append after a refused record = %v", err)
	}
	if n := verifyFile(t, path); n != 1 {
		t.Fatalf("Verify = %d, want 1", n)
	}
}

// assertStaysFailed checks that Append fails now and on every later call.
func assertStaysFailed(t *testing.T, l *Log, cause error) {
	t.Helper()
	for i := range 3 {
		err := l.Append(sample(i))
		if !errors.Is(err, ErrFailed) || cause != nil && !errors.Is(err, cause) {
			t.Fatalf("Append #%d after failure = %v, want ErrFailed wrapping %v", i, err, cause)
		}
	}
}

func TestWriteFailureDevFull(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/dev/full is Linux")
	}
	l, err := Open("/dev/full")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	assertStaysFailed(t, l, syscall.ENOSPC)
}

func TestWriteFailureClosedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(sample(0)); err != nil {
		t.Fatal(err)
	}
	l.f.Close() // the descriptor goes away under the Log
	assertStaysFailed(t, l, os.ErrClosed)
	if err := l.Close(); err == nil {
		t.Errorf("Close of a log whose file was closed = nil, want an error")
	}
	if err := l.Append(sample(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if n := verifyFile(t, path); n != 1 {
		t.Fatalf("Verify = %d, want 1", n)
	}
}

// TestWriteFailureFullFilesystem fills a small tmpfs: the record that no
// longer fits fails the Log, is cut back off the file, and the file still
// verifies and reopens (and fails again while the disk is full).
func TestWriteFailureFullFilesystem(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs root on Linux to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	path := filepath.Join(dir, "audit.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	written := 0
	for ; written < 10000; written++ {
		if err := l.Append(sample(written)); err != nil {
			if !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Append on a full disk = %v, want ErrFailed wrapping ENOSPC", err)
			}
			break
		}
	}
	if written == 0 || written == 10000 {
		t.Fatalf("wrote %d records before the disk filled", written)
	}
	assertStaysFailed(t, l, syscall.ENOSPC)
	l.Close()
	if n := verifyFile(t, path); n != written {
		t.Fatalf("Verify = %d, want the %d records written before the failure", n, written)
	}
	l, err = Open(path)
	if err != nil {
		t.Fatalf("reopen after the failure: %v", err)
	}
	defer l.Close()
	if err := l.Append(Record{Event: EventEnd, Reason: strings.Repeat("z", 8192)}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Append on the still full disk = %v, want ENOSPC", err)
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, p := range []struct {
		name   string
		policy SyncPolicy
	}{{"SyncEvery", SyncEvery}, {"SyncEnd", SyncEnd}, {"SyncNever", SyncNever}} {
		b.Run(p.name, func(b *testing.B) {
			l, err := OpenWith(filepath.Join(b.TempDir(), "audit.log"), Options{Sync: p.policy})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			r := sample(1)
			for i := 0; b.Loop(); i++ {
				r.Event = []string{EventStart, EventEnd}[i%2]
				if err := l.Append(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
