package audit

import (
	"bytes"
	"crypto/ed25519"
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

// FuzzVerifyWith: with a head and a checkpoint key, VerifyWith never
// panics, counts no more records than lines, passes only a log that holds
// the head, and reports checkpoints only within the records it read.
func FuzzVerifyWith(f *testing.F) {
	seed := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := seed.Public().(ed25519.PublicKey)
	path := writeLog(f, 3)
	l, err := Open(path)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := l.Checkpoint(seed); err != nil {
		f.Fatal(err)
	}
	l.Append(sample(3))
	head := l.Head()
	l.Close()
	good := mustRead(f, path)
	f.Add(good, head.String())
	f.Add(good, "2:"+Genesis)
	f.Add(good[:len(good)/2], head.String())
	f.Add(bytes.Replace(good, []byte(`"sig":"`), []byte(`"sig":"A`), 1), "0:"+Genesis)
	f.Add([]byte{}, "1:"+Genesis)
	f.Fuzz(func(t *testing.T, data []byte, headStr string) {
		h, err := ParseHead(headStr)
		if err != nil {
			return
		}
		rep, err := VerifyWith(bytes.NewReader(data), VerifyOptions{Head: &h, Key: pub})
		lines := bytes.Count(data, []byte("\n"))
		var be *BrokenError
		switch {
		case rep.Records > lines || rep.LastCheckpoint > rep.Records || rep.Checkpoints > rep.Records:
			t.Fatalf("VerifyWith = %+v from %d lines", rep, lines)
		case err == nil && rep.Records < h.Seq:
			t.Fatalf("VerifyWith passed %d records against head %v", rep.Records, h)
		case err != nil && !errors.As(err, &be):
			t.Fatalf("VerifyWith error %v is not a *BrokenError", err)
		case err == nil && rep.Head.Seq != rep.Records:
			t.Fatalf("VerifyWith = %+v: head is not the last record", rep)
		}
	})
}
