package transfer

import (
	"bytes"
	"errors"
	"testing"
)

// TestHashWhile: every byte is hashed exactly once, on either side of
// overlapMin, and the I/O's error comes back after the hash is complete.
func TestHashWhile(t *testing.T) {
	errIO := errors.New("io failed")
	for _, tc := range []struct {
		size  int
		ioErr error
	}{
		{0, nil}, {1, nil}, {overlapMin - 1, nil}, {overlapMin, nil}, {1 << 20, nil},
		{100, errIO}, {1 << 20, errIO},
	} {
		b := bytes.Repeat([]byte{0xa5, 0x5a, 7}, tc.size/3+1)[:tc.size]
		h := newTree()
		var seen []byte
		err := hashWhile(h, b, func() error {
			seen = append(seen, b...)
			return tc.ioErr
		})
		if !errors.Is(err, tc.ioErr) {
			t.Errorf("hashWhile(%d bytes) = %v, want %v", tc.size, err, tc.ioErr)
		}
		if want := Digest(b); h.Sum() != want {
			t.Errorf("hashWhile(%d bytes): digest %s, want %s", tc.size, h.Sum(), want)
		}
		if !bytes.Equal(seen, b) {
			t.Errorf("hashWhile(%d bytes): io saw %d bytes, want them all", tc.size, len(seen))
		}
	}
}
