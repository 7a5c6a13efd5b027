//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package audit

import "os"

// lockFile is a no-op where flock(2) is missing: one writer per file is
// then the operator's duty.
func lockFile(*os.File) error { return nil }
