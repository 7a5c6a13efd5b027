package jobs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var alice = Owner{Key: "SHA256:alice"}
var bob = Owner{Key: "SHA256:bob"}

// pattern is a deterministic stream: byte i is a function of i, so any
// slice read back can be checked against its offset.
func pattern(off, n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		x := off + int64(i)
		b[i] = byte(x ^ x>>8 ^ x>>16)
	}
	return b
}

func open(t *testing.T, cfg Config) *Store {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(t.TempDir(), "jobs")
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readAll reads stream from off to the end, checking every byte.
func readAll(t *testing.T, j *Job, stream int, off int64) int64 {
	t.Helper()
	buf := make([]byte, 100<<10)
	for i := 0; i < 1<<20; i++ {
		n, err := j.ReadAt(stream, off, buf)
		if errors.Is(err, io.EOF) || errors.Is(err, ErrPastEnd) {
			return off
		}
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if !bytes.Equal(buf[:n], pattern(off, int64(n))) {
			t.Fatalf("bytes at %d differ", off)
		}
		off += int64(n)
	}
	t.Fatal("read loop did not end")
	return 0
}

func diskUse(t *testing.T, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if fi, err := d.Info(); err == nil && !d.IsDir() && filepath.Base(p) != metaFile {
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		writes []int64 // sizes, alternating stdout and stderr
	}{
		{"empty", nil},
		{"one byte", []int64{1}},
		{"both streams", []int64{1000, 10, 5000, 0, 7}},
		{"across segments", []int64{300 << 10, 1, 200 << 10, 2, 100 << 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, Config{JobMax: 1 << 20})
			j, err := s.Create(alice, "cmd", "sess")
			if err != nil {
				t.Fatal(err)
			}
			var off [2]int64
			for i, n := range tt.writes {
				st := i % 2
				if err := j.Write(st, pattern(off[st], n)); err != nil {
					t.Fatal(err)
				}
				off[st] += n
			}
			if err := j.Finish(End{Outcome: "exited", Code: 3}); err != nil {
				t.Fatal(err)
			}
			for st := range off {
				if got := readAll(t, j, st, 0); got != off[st] {
					t.Errorf("stream %d: read to %d, want %d", st, got, off[st])
				}
				if off[st] > 5 {
					if got := readAll(t, j, st, 5); got != off[st] {
						t.Errorf("stream %d from 5: read to %d", st, got)
					}
				}
				if _, err := j.ReadAt(st, off[st]+1, make([]byte, 1)); !errors.Is(err, ErrPastEnd) {
					t.Errorf("past the end: %v, want ErrPastEnd", err)
				}
			}
			in := j.Info()
			if in.Written != off || in.End.Code != 3 || in.Running() {
				t.Errorf("info %+v", in)
			}
		})
	}
}

// TestCap writes ten caps' worth to one stream: the oldest segments go,
// what is left is exactly the newest bytes, a read below them says
// ErrDropped, and the disk never holds more than the cap.
func TestCap(t *testing.T) {
	const capBytes = 1 << 20
	s := open(t, Config{JobMax: capBytes})
	j, err := s.Create(alice, "yes", "sess")
	if err != nil {
		t.Fatal(err)
	}
	var off [2]int64
	for i := 0; i < 400; i++ {
		st := Stdout
		if i%10 == 9 {
			st = Stderr
		}
		n := int64(10<<10 + i*97)
		if err := j.Write(st, pattern(off[st], n)); err != nil {
			t.Fatal(err)
		}
		off[st] += n
		if use := diskUse(t, j.dir); use > capBytes {
			t.Fatalf("after write %d: %d bytes on disk, cap %d", i, use, capBytes)
		}
	}
	in := j.Info()
	if in.Kept[Stdout] == 0 || in.Written != off {
		t.Fatalf("nothing dropped or wrong ends: %+v, wrote %v", in, off)
	}
	if _, err := j.ReadAt(Stdout, in.Kept[Stdout]-1, make([]byte, 10)); !errors.Is(err, ErrDropped) {
		t.Errorf("read below the kept range: %v, want ErrDropped", err)
	}
	if got := readAll(t, j, Stdout, in.Kept[Stdout]); got != off[Stdout] {
		t.Errorf("read to %d, want %d", got, off[Stdout])
	}
	if kept := in.Written[Stdout] - in.Kept[Stdout] + in.Written[Stderr] - in.Kept[Stderr]; kept < capBytes/2 {
		t.Errorf("only %d bytes kept of a %d cap", kept, capBytes)
	}
}

// openFiles counts this process's descriptors open on files under dir.
func openFiles(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range ents {
		if dst, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(dst, dir) {
			n++
		}
	}
	return n
}

// TestReader: a Reader going through a stream in order while the job
// writes and drops reads exactly the bytes a fresh read would, keeps one
// segment open at a time (none after Close), and lets a dropped segment
// go at its next read, which reports the drop.
func TestReader(t *testing.T) {
	const capBytes = 1 << 20
	s := open(t, Config{JobMax: capBytes})
	j, err := s.Create(alice, "yes", "sess")
	if err != nil {
		t.Fatal(err)
	}
	r := j.NewReader(Stdout)
	var written, off int64
	buf := make([]byte, 50<<10)
	for i := 0; i < 200; i++ {
		n := int64(20<<10 + i*131)
		if err := j.Write(Stdout, pattern(written, n)); err != nil {
			t.Fatal(err)
		}
		written += n
		for k := 0; k < 1000 && off < written; k++ {
			got, err := r.ReadAt(off, buf)
			if errors.Is(err, ErrDropped) {
				off = j.Info().Kept[Stdout]
				continue
			}
			if err != nil {
				t.Fatalf("read at %d: %v", off, err)
			}
			if !bytes.Equal(buf[:got], pattern(off, int64(got))) {
				t.Fatalf("bytes at %d differ", off)
			}
			off += int64(got)
		}
		if off != written {
			t.Fatalf("reader at %d, job wrote %d", off, written)
		}
		// the job's open segment, and the reader's
		if n := openFiles(t, j.dir); n > 2 {
			t.Fatalf("after write %d: %d files of the job open", i, n)
		}
		if i == 2 || i == 100 { // fall behind: the reader's segment is dropped
			for k := 0; k < 9; k++ {
				if err := j.Write(Stdout, pattern(written, capBytes/8)); err != nil {
					t.Fatal(err)
				}
				written += capBytes / 8
			}
			if _, err := r.ReadAt(off, buf); !errors.Is(err, ErrDropped) {
				t.Fatalf("read of a dropped segment: %v, want ErrDropped", err)
			}
			if n := openFiles(t, j.dir); n != 1 {
				t.Fatalf("%d files of the job open after the drop was read, want the job's own", n)
			}
			off = j.Info().Kept[Stdout]
		}
	}
	if err := j.Finish(End{Outcome: "exited"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(written, buf); !errors.Is(err, io.EOF) {
		t.Errorf("read at the end of a finished job: %v, want io.EOF", err)
	}
	r.Close()
	if n := openFiles(t, j.dir); n != 0 {
		t.Errorf("%d files of the job open after Finish and Close", n)
	}
}

func TestTotalAndOwner(t *testing.T) {
	s := open(t, Config{JobMax: 1 << 20, TotalMax: 2<<20 + 100})
	a, err := s.Create(alice, "a", "s1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(bob, "b", "s2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(alice, "c", "s3"); !errors.Is(err, ErrFull) {
		t.Fatalf("third job over the total: %v, want ErrFull", err)
	}
	if _, err := s.Get(bob, a.ID()); !errors.Is(err, ErrUnknown) {
		t.Errorf("bob got alice's job: %v", err)
	}
	if _, err := s.Get(alice, "0000000000000000"); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown id: %v", err)
	}
	if l := s.List(bob); len(l) != 1 || l[0].Command != "b" {
		t.Errorf("bob lists %+v", l)
	}
	if err := a.Write(Stdout, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if err := a.Finish(End{Outcome: "exited"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(alice, "c", "s3"); err != nil {
		t.Errorf("a finished job gives back its reservation: %v", err)
	}
}

func TestTTL(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s := open(t, Config{TTL: time.Hour, Now: clock})
	j, err := s.Create(alice, "true", "s")
	if err != nil {
		t.Fatal(err)
	}
	advance(2 * time.Hour) // a running job never expires
	if _, err := s.Get(alice, j.ID()); err != nil {
		t.Fatalf("running job expired: %v", err)
	}
	if err := j.Finish(End{Outcome: "exited"}); err != nil {
		t.Fatal(err)
	}
	advance(59 * time.Minute)
	if _, err := s.Get(alice, j.ID()); err != nil {
		t.Fatalf("job expired before its TTL: %v", err)
	}
	advance(2 * time.Minute)
	if _, err := s.Get(alice, j.ID()); !errors.Is(err, ErrUnknown) {
		t.Fatalf("job past its TTL: %v", err)
	}
	if _, err := os.Stat(j.dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("expired job's directory left: %v", err)
	}
}

// TestSweep: with a real clock and a short TTL, a finished job nobody
// lists, reads or adds a job beside is removed from disk by the sweep
// alone, not before its TTL, and gives its share of the total back; a
// running job stays; the sweep ends with its context.
func TestSweep(t *testing.T) {
	const ttl = 300 * time.Millisecond
	s := open(t, Config{TTL: ttl})
	done, err := s.Create(alice, "echo", "s1")
	if err != nil {
		t.Fatal(err)
	}
	running, err := s.Create(alice, "sleep", "s2")
	if err != nil {
		t.Fatal(err)
	}
	if err := done.Write(Stdout, pattern(0, 5000)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	swept := make(chan struct{})
	go func() { defer close(swept); s.Sweep(ctx) }()
	defer func() {
		cancel()
		select {
		case <-swept:
		case <-time.After(5 * time.Second):
			t.Fatal("Sweep did not return after its context ended")
		}
	}()
	if err := done.Finish(End{Outcome: "exited"}); err != nil {
		t.Fatal(err)
	}
	ended := time.Now()
	var gone time.Time
	for deadline := ended.Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(done.dir); errors.Is(err, fs.ErrNotExist) {
			gone = time.Now()
			break
		}
	}
	switch {
	case gone.IsZero():
		t.Fatalf("finished job still on disk 10 s after it ended, TTL %v", ttl)
	case gone.Sub(ended) < ttl:
		t.Errorf("finished job removed %v after it ended, before its TTL of %v", gone.Sub(ended), ttl)
	}
	if _, err := os.Stat(running.dir); err != nil {
		t.Errorf("running job swept: %v", err)
	}
	if r := s.Reserved(); r != s.JobMax() {
		t.Errorf("%d bytes reserved after the sweep, want the running job's cap %d", r, s.JobMax())
	}
}

func TestSweepInterval(t *testing.T) {
	tests := []struct {
		ttl, want time.Duration
	}{
		{DefaultTTL, maxSweepInterval},
		{8 * time.Minute, time.Minute},
		{time.Minute, time.Minute / 8},
		{time.Millisecond, minSweepInterval},
	}
	for _, tt := range tests {
		if got := (&Store{cfg: Config{TTL: tt.ttl}}).sweepInterval(); got != tt.want {
			t.Errorf("TTL %v: sweep every %v, want %v", tt.ttl, got, tt.want)
		}
	}
}

// TestReopen is a daemon restart: a running job is recorded interrupted,
// a finished one keeps its outcome, both spools stay readable, and the
// directory and files are private.
func TestReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "jobs")
	s := open(t, Config{Dir: dir})
	run, _ := s.Create(alice, "sleep", "s1")
	done, _ := s.Create(alice, "echo", "s2")
	for _, j := range []*Job{run, done} {
		if err := j.Write(Stdout, pattern(0, 5000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := done.Finish(End{Outcome: "signaled", Code: 143, Signal: "TERM"}); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "00000000000000zz"), 0o700) // not a job id: ignored
	s2 := open(t, Config{Dir: dir})
	for _, tt := range []struct {
		j       *Job
		outcome string
		code    int
	}{{run, OutcomeInterrupted, 255}, {done, "signaled", 143}} {
		j, err := s2.Get(alice, tt.j.ID())
		if err != nil {
			t.Fatal(err)
		}
		in := j.Info()
		if in.Running() || in.End.Outcome != tt.outcome || in.End.Code != tt.code {
			t.Errorf("%s after restart: %+v", tt.j.ID(), in.End)
		}
		if got := readAll(t, j, Stdout, 0); got != 5000 {
			t.Errorf("%s: read %d bytes after restart", tt.j.ID(), got)
		}
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		fi, _ := d.Info()
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700 | fs.ModeDir
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestChangedWakesReaders(t *testing.T) {
	s := open(t, Config{})
	j, _ := s.Create(alice, "x", "s")
	ch := j.Changed()
	select {
	case <-ch:
		t.Fatal("changed before a write")
	default:
	}
	_ = j.Write(Stderr, []byte("x"))
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("a write did not wake the reader")
	}
	ch = j.Changed()
	_ = j.Finish(End{})
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("Finish did not wake the reader")
	}
}

var segNameTests = []struct {
	name, stream string
	start        int64
	ok           bool
}{
	{"stdout.0000000000000000", "stdout", 0, true},
	{"stderr.00000000000a0000", "stderr", 0xa0000, true},
	{"stderr.00000000000a0000", "stdout", 0, false},
	{"stdout.00000000000A0000", "stdout", 0, false},
	{"stdout.ffffffffffffffff", "stdout", 0, false},
	{"stdout.12", "stdout", 0, false},
	{"stdout.+000000000000001", "stdout", 0, false},
	{"meta.json", "stdout", 0, false},
}

func TestParseSegName(t *testing.T) {
	for _, tt := range segNameTests {
		start, ok := parseSegName(tt.name, tt.stream)
		if ok != tt.ok || start != tt.start {
			t.Errorf("parseSegName(%q, %q) = %d, %v", tt.name, tt.stream, start, ok)
		}
	}
}

func FuzzParseSegName(f *testing.F) {
	for _, tt := range segNameTests {
		f.Add(tt.name, tt.stream)
	}
	f.Fuzz(func(t *testing.T, name, stream string) {
		start, ok := parseSegName(name, stream)
		if ok && (start < 0 || start > maxOffset || segName(stream, start) != name) {
			t.Fatalf("parseSegName(%q) = %d", name, start)
		}
	})
}
