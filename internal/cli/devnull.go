package cli

import (
	"io"
	"os"
)

// isDevNull reports whether r is the null device. A run whose stdin is
// /dev/null (a script's `< /dev/null`, a service, a benchmark harness)
// then sends its end of input at once, as -n does, instead of starting a
// reader whose first read is that end: the same remote input, without a
// goroutine, its buffer and a blocking read at the end of a one-shot run.
func isDevNull(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok || f == nil {
		return false
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err == nil && os.SameFile(st, null)
}
