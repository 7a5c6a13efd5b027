package transfer

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// StaleAge is how long an untouched partial file is kept for a resume
// before SweepStale removes it: long enough to come back the next day.
const StaleAge = 24 * time.Hour

// SweepStale removes, directly in dir, the partial files (and staged
// symlinks) of transfers that were interrupted more than maxAge ago (by
// modification time), skipping any that a running transfer holds. It
// returns how many it removed. A daemon calls it at start for the
// directories transfers usually target (the home directory).
func SweepStale(dir string, maxAge time.Duration) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	cutoff := time.Now().Add(-maxAge)
	removed := 0
	var errs []error
	for _, e := range entries {
		if !isTempName(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue
		}
		ok, err := removeStale(filepath.Join(dir, e.Name()), info)
		if ok {
			removed++
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

// removeStale removes one stale temporary file unless a transfer holds
// its lock.
func removeStale(path string, info fs.FileInfo) (bool, error) {
	if info.Mode().IsRegular() {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return false, err
		}
		defer f.Close()
		if err := lockFile(f); err != nil {
			if errors.Is(err, ErrInUse) {
				return false, nil
			}
			return false, err
		}
	} else if info.Mode()&fs.ModeSymlink == 0 {
		return false, nil // a directory or device with our name is not ours
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, nil
}
