package audit

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// checkpointedLog writes 1-3, checkpoint 4, 5-6, checkpoint 7, 8-9.
func checkpointedLog(t *testing.T, key ed25519.PrivateKey) (path string, data []byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "audit.log")
	l, err := OpenWith(path, Options{Sync: SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if ok, err := l.Checkpoint(key); ok || err != nil {
		t.Fatalf("Checkpoint of an empty log = %v, %v; want nothing written", ok, err)
	}
	i := 0
	for group, n := range []int{3, 2, 2} {
		for range n {
			if err := l.Append(sample(i)); err != nil {
				t.Fatal(err)
			}
			i++
		}
		if group == 2 {
			break // the log ends with records after its last checkpoint
		}
		if ok, err := l.Checkpoint(key); !ok || err != nil {
			t.Fatalf("Checkpoint after records = %v, %v", ok, err)
		}
		if ok, err := l.Checkpoint(key); ok || err != nil {
			t.Fatalf("second Checkpoint with nothing written since = %v, %v", ok, err)
		}
	}
	l.Close()
	return path, mustRead(t, path)
}

// rechainFrom edits record i of data and re-encodes every record from i
// on with prev and hash recomputed: a rewrite of the chain by someone
// without the host key, who keeps the later records (checkpoints too).
func rechainFrom(t *testing.T, data []byte, i int, edit func(*Record)) []byte {
	t.Helper()
	lines := bytes.SplitAfter(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	prev := lineHash(bytes.TrimSuffix(lines[i-1], []byte("\n")))
	var out bytes.Buffer
	for _, l := range lines[:i] {
		out.Write(l)
	}
	for j := i; j < len(lines); j++ {
		r, err := decode(bytes.TrimSuffix(lines[j], []byte("\n")))
		if err != nil {
			t.Fatal(err)
		}
		if j == i {
			edit(&r)
		}
		r.Prev = prev
		line, err := encode(r)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(line)
		prev = lineHash(line[:len(line)-1])
	}
	return out.Bytes()
}

func TestCheckpoints(t *testing.T) {
	pub, priv := newKey(t)
	otherPub, otherPriv := newKey(t)
	_, data := checkpointedLog(t, priv)
	forged := rechainFrom(t, data, 4, func(r *Record) { r.Argv = []string{"forged"} })
	// the forger re-signs the checkpoints with a key of their own
	lines := bytes.SplitAfter(bytes.TrimSuffix(forged, []byte("\n")), []byte("\n"))
	cp, _ := decode(bytes.TrimSuffix(lines[6], []byte("\n")))
	otherSigned := rechainFrom(t, forged, 6, func(r *Record) {
		r.Sig = signString(t, otherPriv, cp.Seq, cp.Prev)
	})
	cases := []struct {
		name       string
		data       []byte
		key        ed25519.PublicKey
		seq        int // of the BrokenError; 0: passes
		reasonPart string
		last       int // LastCheckpoint when it passes
	}{
		{"intact", data, pub, 0, "", 7},
		{"intact, no key", data, nil, 0, "", 0},
		{"another key", data, otherPub, 4, "does not verify", 0},
		{"record 5 rewritten and re-chained through the checkpoint", forged, pub, 7, "does not verify", 0},
		{"re-chained and re-signed with another key", otherSigned, pub, 7, "does not verify", 0},
		{"signature removed", rechainFrom(t, data, 3, func(r *Record) { r.Sig = "" }), pub, 4, "without a signature", 0},
		{"signature not base64", rechainFrom(t, data, 3, func(r *Record) { r.Sig = "!!" }), pub, 4, "not a base64", 0},
		// What checkpoints cannot show: a tail cut after the last honest
		// one and re-chained without any. verify reports the last
		// checkpoint, older than the journal's heads; the head catches it.
		{"tail after checkpoint 4 re-chained", rechain(t, data, 5, 6), pub, 0, "", 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := VerifyWith(bytes.NewReader(c.data), VerifyOptions{Key: c.key})
			if c.reasonPart == "" {
				if err != nil || rep.LastCheckpoint != c.last {
					t.Fatalf("VerifyWith = %+v, %v; want it to pass with the last checkpoint at %d", rep, err, c.last)
				}
				return
			}
			var be *BrokenError
			if !errors.As(err, &be) || be.Seq != c.seq || !strings.Contains(be.Reason, c.reasonPart) {
				t.Fatalf("VerifyWith = %+v, %v; want a *BrokenError at record %d with %q", rep, err, c.seq, c.reasonPart)
			}
			// every forgery here is a valid chain: only the key finds it
			if _, err := Verify(bytes.NewReader(c.data)); err != nil {
				t.Errorf("plain Verify = %v; the case is not the forgery it claims to be", err)
			}
		})
	}
	rep, err := VerifyWith(bytes.NewReader(data), VerifyOptions{Key: pub})
	if err != nil || rep.Checkpoints != 2 || rep.Records != 9 || rep.Head.Seq != 9 {
		t.Errorf("VerifyWith = %+v, %v; want 9 records, 2 checkpoints", rep, err)
	}
}

func signString(t *testing.T, key ed25519.PrivateKey, seq int, prev string) string {
	t.Helper()
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, checkpointMessage(seq, prev)))
}

// TestCheckpointReopen: a log whose last record is a checkpoint gets no
// second one after a restart; one with records after its last does.
func TestCheckpointReopen(t *testing.T) {
	_, priv := newKey(t)
	path, _ := checkpointedLog(t, priv) // ends with two plain records
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := l.Checkpoint(priv); !ok || err != nil {
		t.Fatalf("Checkpoint after reopen, records since the last = %v, %v", ok, err)
	}
	l.Close()
	l, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if ok, err := l.Checkpoint(priv); ok || err != nil {
		t.Fatalf("Checkpoint after reopen, last record a checkpoint = %v, %v", ok, err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	l.Append(sample(20))
	before := l.Head()
	if ok, err := l.Checkpoint(ec); ok || err == nil || !strings.Contains(err.Error(), "ed25519") {
		t.Errorf("Checkpoint with an ECDSA key = %v, %v; want refused", ok, err)
	}
	if l.Head() != before {
		t.Error("a refused checkpoint changed the log")
	}
	if err := l.Append(sample(21)); err != nil {
		t.Errorf("Append after a refused checkpoint: %v", err)
	}
}

// reports collects what Watch reports, for a test to wait on.
type reports chan Head

func (r reports) next(t *testing.T, what string) Head {
	t.Helper()
	select {
	case h := <-r:
		return h
	case <-time.After(10 * time.Second):
		t.Fatalf("no head reported: %s", what)
		return Head{}
	}
}

// none checks that nothing is reported for d (a report there would be
// one with nothing written since the last).
func (r reports) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case h := <-r:
		t.Fatalf("head %v reported with nothing written since the last report", h)
	case <-time.After(d):
	}
}

func TestWatchReportsHead(t *testing.T) {
	const every = 20 * time.Millisecond
	l, err := OpenWith(filepath.Join(t.TempDir(), "audit.log"), Options{Sync: SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Append(sample(0))
	got := make(reports, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Watch(ctx, l, WatchConfig{Report: func(h Head) { got <- h }, HeadEvery: every})
	}()
	defer func() { cancel(); <-done }()

	if h := got.next(t, "at start"); h.Seq != 1 {
		t.Fatalf("first report = %v, want the head at start (seq 1)", h)
	}
	got.none(t, 10*every)
	for i := 1; i <= 3; i++ {
		l.Append(sample(i))
	}
	// A tick between two of the appends reports the head on the way
	// (seq 2 or 3): each report is a new head, the last one the head
	// after the three writes.
	want := l.Head()
	for i := 0; ; i++ {
		h := got.next(t, "after writes")
		if h == want {
			break
		}
		if i == 2 || h.Seq < 2 || h.Seq >= want.Seq {
			t.Fatalf("report after writes = %v, want %v or a head on the way to it", h, want)
		}
	}
	got.none(t, 10*every)
	l.Append(sample(4))
	cancel()
	<-done
	var final Head
	for len(got) > 0 { // a tick may have come first; the last report counts
		final = <-got
	}
	if final != l.Head() || final.Seq != 5 {
		t.Fatalf("report at shutdown = %v, want %v", final, l.Head())
	}
}

func TestWatchCheckpoints(t *testing.T) {
	const every = 20 * time.Millisecond
	pub, priv := newKey(t)
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := OpenWith(path, Options{Sync: SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(reports, 100)
	var errs []error
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Watch(ctx, l, WatchConfig{Report: func(h Head) { got <- h }, HeadEvery: time.Hour,
			CheckpointEvery: every, Key: priv, Error: func(err error) { errs = append(errs, err) }})
	}()
	defer func() { cancel(); <-done }()
	got.next(t, "at start")
	l.Append(sample(0))
	l.Append(sample(1))
	deadline := time.Now().Add(10 * time.Second)
	for l.Head().Seq != 3 && time.Now().Before(deadline) {
		time.Sleep(every / 4)
	}
	if l.Head().Seq != 3 {
		t.Fatalf("no checkpoint after writes: head %v", l.Head())
	}
	time.Sleep(10 * every)
	if h := l.Head(); h.Seq != 3 {
		t.Fatalf("head %v: a checkpoint was written with nothing written since the last", h)
	}
	l.Append(sample(2))
	cancel()
	<-done
	if h := got.next(t, "at shutdown"); h != l.Head() || h.Seq != 5 {
		t.Fatalf("report at shutdown = %v, want %v after a final checkpoint (seq 5)", h, l.Head())
	}
	l.Close()
	rep, err := VerifyWith(bytes.NewReader(mustRead(t, path)), VerifyOptions{Key: pub})
	if err != nil || rep.Checkpoints != 2 || rep.LastCheckpoint != 5 || len(errs) != 0 {
		t.Fatalf("VerifyWith = %+v, %v (checkpoint errors %v); want checkpoints 3 and 5", rep, err, errs)
	}
}
