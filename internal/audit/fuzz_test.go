package audit

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzVerify: Verify never panics, never claims more records than there
// are lines, and a nil error means every line was counted.
func FuzzVerify(f *testing.F) {
	good := mustRead(f, writeLog(f, 4))
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte("\n"))
	f.Add(good[:len(good)-7])
	f.Add(bytes.Replace(good, []byte(`"seq":2`), []byte(`"seq":3`), 1))
	f.Add([]byte(`{"seq":1,"prev":"` + Genesis + `","hash":"` + Genesis + `"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := Verify(bytes.NewReader(data))
		lines := bytes.Count(data, []byte("\n"))
		if n > lines {
			t.Fatalf("Verify = %d records from %d lines", n, lines)
		}
		var be *BrokenError
		switch {
		case err == nil && (n != lines || len(data) > 0 && data[len(data)-1] != '\n'):
			t.Fatalf("Verify = %d, nil on %d lines", n, lines)
		case err != nil && !errors.As(err, &be):
			t.Fatalf("Verify error %v is not a *BrokenError", err)
		case be != nil && be.Line != n+1:
			t.Fatalf("BrokenError line %d after %d good records", be.Line, n)
		}
	})
}
