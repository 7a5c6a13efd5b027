//go:build !linux

package transfer

import "os"

// syncBatch makes the staged files of a batch durable: where there is no
// syncfs, an fsync of each.
func syncBatch(_ *os.Root, st []staged) error {
	for i := range st {
		if st[i].f != nil {
			if err := st[i].f.Sync(); err != nil {
				return err
			}
		}
	}
	return nil
}

// syncDirsTogether fsyncs each directory in dirs.
func syncDirsTogether(r *Receiver, dirs []string) error {
	for _, d := range dirs {
		if err := r.syncDir(d); err != nil {
			return err
		}
	}
	return nil
}
