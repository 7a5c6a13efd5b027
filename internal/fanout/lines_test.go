package fanout

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

func TestLineWriter(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"whole lines", []string{"a\nb\n"}, "h: a\nh: b\n"},
		{"split lines", []string{"a", "b\nc", "\n"}, "h: ab\nh: c\n"},
		{"final partial line", []string{"a\nb"}, "h: a\nh: b\n"},
		{"empty lines", []string{"\n\n"}, "h: \nh: \n"},
		{"nothing", nil, ""},
		{"bytes kept", []string{"\x00\xff\r\n"}, "h: \x00\xff\r\n"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		lw := NewLineWriter(NewSharedWriter(&out), "h: ")
		for _, w := range tt.writes {
			if n, err := lw.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("%s: Write(%q) = %d, %v", tt.name, w, n, err)
			}
		}
		if err := lw.Close(); err != nil {
			t.Fatal(err)
		}
		if out.String() != tt.want {
			t.Errorf("%s: output %q, want %q", tt.name, out.String(), tt.want)
		}
	}
}

// TestLineWriterLongLine: a line over MaxLineLength comes out in whole
// prefixed pieces, and nothing is lost.
func TestLineWriterLongLine(t *testing.T) {
	var out bytes.Buffer
	lw := NewLineWriter(NewSharedWriter(&out), "h: ")
	long := strings.Repeat("x", 2*MaxLineLength+10)
	for i := 0; i < len(long); i += 1000 {
		lw.Write([]byte(long[i:min(i+1000, len(long))]))
	}
	lw.Write([]byte("\nend\n"))
	lw.Close()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 4 || lines[3] != "h: end" {
		t.Fatalf("long line came out as %d lines, last %q; want 3 pieces and h: end", len(lines), lines[len(lines)-1])
	}
	var joined string
	for _, l := range lines[:3] {
		if !strings.HasPrefix(l, "h: ") || len(l) > len("h: ")+MaxLineLength {
			t.Fatalf("piece %.20q... of %d bytes; want prefixed and at most MaxLineLength", l, len(l))
		}
		joined += strings.TrimPrefix(l, "h: ")
	}
	if joined != long {
		t.Errorf("pieces rejoined = %d bytes, want the %d-byte line", len(joined), len(long))
	}
}

// chunkRecorder records each Write as one chunk, to check that a write to
// the shared stream holds only whole lines.
type chunkRecorder struct {
	mu     sync.Mutex
	chunks [][]byte
}

func (c *chunkRecorder) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.chunks = append(c.chunks, bytes.Clone(p))
	return len(p), nil
}

// TestLineWriterConcurrent: 50 hosts write 1,000 lines each to one stream
// in random splits at once; every line comes out whole, with its host's
// prefix, in that host's order, and every write holds whole lines only.
func TestLineWriterConcurrent(t *testing.T) {
	const hosts, lines = 50, 1000
	rec := &chunkRecorder{}
	shared := NewSharedWriter(rec)
	var wg sync.WaitGroup
	for h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var all bytes.Buffer
			for i := 1; i <= lines; i++ {
				fmt.Fprintf(&all, "line %d of host %d\n", i, h)
			}
			lw := NewLineWriter(shared, fmt.Sprintf("host%d: ", h))
			rng := rand.New(rand.NewPCG(uint64(h), 1))
			b := all.Bytes()
			for len(b) > 0 {
				n := min(len(b), 1+rng.IntN(300))
				lw.Write(b[:n])
				b = b[n:]
			}
			lw.Close()
		}()
	}
	wg.Wait()
	next := make([]int, hosts)
	for _, c := range rec.chunks {
		if len(c) == 0 || c[len(c)-1] != '\n' {
			t.Fatalf("a write to the shared stream ends mid-line: %q", c)
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(c), "\n"), "\n") {
			var h, h2, i int
			if _, err := fmt.Sscanf(line, "host%d: line %d of host %d", &h, &i, &h2); err != nil || h != h2 || h < 0 || h >= hosts {
				t.Fatalf("torn or foreign line %.200q (%v)", line, err)
			}
			if next[h]++; i != next[h] {
				t.Fatalf("host %d: line %d came where line %d was due", h, i, next[h])
			}
		}
	}
	for h, n := range next {
		if n != lines {
			t.Errorf("host %d: %d lines, want %d", h, n, lines)
		}
	}
}

func TestLineWriterError(t *testing.T) {
	lw := NewLineWriter(NewSharedWriter(failWriter{}), "h: ")
	if _, err := lw.Write([]byte("partial")); err != nil {
		t.Errorf("Write of a partial line = %v, want nil (nothing written yet)", err)
	}
	if _, err := lw.Write([]byte("\n")); err == nil {
		t.Error("Write to a failing stream succeeded")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }
