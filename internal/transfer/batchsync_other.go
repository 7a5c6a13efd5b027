//go:build !linux

package transfer

import "os"

// syncGroup makes a group's temporary files and directory changes
// durable: where there is no syncfs, an fsync of each file and of each
// directory (a local name under root).
func syncGroup(root *os.Root, files []*os.File, dirs []string) error {
	for _, f := range files {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	for _, dir := range dirs {
		d, err := root.Open(dir)
		if err != nil {
			return err
		}
		err = syncDirFile(d)
		d.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
