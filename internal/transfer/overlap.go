package transfer

import "io"

// overlapMin is the smallest block hashed on a second goroutine while the
// caller moves the same bytes (Source.Read's caller sends them, Part.Write
// writes them). Hashing a frame and the file or socket I/O of the same
// bytes take about as long, so on two cores running them side by side
// takes about half the wall time; below 64 KiB the goroutine hand-off
// costs more than it saves (docs/BENCHMARKS.md).
const overlapMin = 64 << 10

// hashWhile feeds b to h and runs do, side by side when b is large
// enough. It returns once both are done, so the caller may reuse b. do
// must only read b; h must not be used by anything else meanwhile.
func hashWhile(h io.Writer, b []byte, do func() error) error {
	if len(b) < overlapMin {
		_, _ = h.Write(b)
		return do()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = h.Write(b)
	}()
	err := do()
	<-done
	return err
}
