package transfer

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestSweepStale(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-2 * StaleAge)
	files := map[string]time.Time{
		PartName("stale", 1, 1):  old,
		PartName("fresh", 1, 1):  time.Now(),
		PartName("held", 1, 1):   old,
		"stale.txt":              old,
		".x.rexec-link-00112233": old,
	}
	for name, mt := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	held, err := os.OpenFile(filepath.Join(dir, PartName("held", 1, 1)), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := lockFile(held); err != nil {
		t.Fatal(err)
	}
	n, err := SweepStale(dir, StaleAge)
	if err != nil || n != 2 {
		t.Errorf("SweepStale = %d, %v; want 2 removed", n, err)
	}
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	want := []string{PartName("fresh", 1, 1), PartName("held", 1, 1), "stale.txt"}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
}
