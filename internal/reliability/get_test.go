//go:build linux

package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/faultproxy"
	"github.com/rexec-dev/rexec/internal/rexectest"
	"github.com/rexec-dev/rexec/internal/server"
	"github.com/rexec-dev/rexec/internal/transfer"
)

// getSize is the file each damaged download carries: several TLS records
// of data, so faults land in file data as often as in the protocol.
const getSize = 48 << 10

// faultyGetLimit bounds one damaged download: a flip in a TLS length
// field leaves the client waiting for bytes that never come, and an
// undamaged download takes milliseconds.
const faultyGetLimit = 2 * time.Second

// TestGetFaults downloads a different random file on every connection
// (`rexec cp host:file .`, client.Get) while the connection is cut at a
// random byte, or has one random bit flipped, in either direction,
// anywhere in the conversation; a quarter of the faults fall in the
// server's last two records (the file's end with its digest, and the end
// of the get), where the file may be committed before the connection
// fails. Half of the local targets already hold an older version of the
// file. It proves, for the client's side:
//
//   - no damaged file is ever committed: each target holds exactly its old
//     content (or nothing, when it had none) or exactly the new file, and
//     a Get the client reports as complete has committed the new file;
//   - nothing else is left beside the targets but partial files kept for
//     --resume (transfer's rule: a broken connection keeps the partial
//     file, a failed digest removes it), and each holds a prefix of the
//     new file: no damaged byte is written even there;
//   - each of those partial files resumes (a faithful Get with Resume)
//     into exactly the new file and is gone afterwards;
//
// and, once every connection is over, no goroutine, descriptor or
// temporary file is left on either side (TestMain checks TMPDIR). The
// faults are seeded and logged (REXEC_RELIABILITY_SEED).
func TestGetFaults(t *testing.T) {
	for _, kind := range []faultproxy.Kind{faultproxy.Cut, faultproxy.Flip} {
		t.Run(kind.String(), func(t *testing.T) { testGetFaults(t, kind) })
	}
}

func testGetFaults(t *testing.T, kind faultproxy.Kind) {
	n := runs(50, 100, 1000)
	rng := newRand(t)
	e := startEnv(t, server.Config{})
	d := downloads{remote: t.TempDir(), local: t.TempDir()}
	for i := -1; i < n; i++ {
		if err := os.WriteFile(d.remotePath(i), d.content(i), 0o600); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := os.WriteFile(d.localPath(i), d.old(i), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	base, err := e.through(faultproxy.Plan{Record: true}, d.get(-1, false))
	if err != nil || base.err != nil {
		t.Fatalf("faithful download: %v, %v", err, base.err)
	}
	if got, _ := os.ReadFile(d.localPath(-1)); !bytes.Equal(got, d.content(-1)) {
		t.Fatalf("faithful download committed %d bytes, not the %d-byte file", len(got), getSize)
	}
	downEnds := recordEnds(base.link.Recorded(faultproxy.Down))
	if len(downEnds) < 3 {
		t.Fatalf("faithful download: %d records from the server", len(downEnds))
	}
	tail := recordStart(downEnds, len(downEnds)-2) // file_end and get_end
	before := quiet(t)

	faults := make([]faultproxy.Fault, n)
	for i := range faults {
		f := faultproxy.Fault{Kind: kind, Dir: faultproxy.Direction(rng.IntN(2)), Bit: uint8(rng.IntN(8))}
		from, total := int64(0), base.runUp
		if f.Dir == faultproxy.Down {
			total = base.runDown
		}
		if i%4 == 3 { // the server's last records, around the commit
			f.Dir, from, total = faultproxy.Down, tail, base.runDown
		}
		f.At = from + rng.Int64N(total-from)
		faults[i] = f
	}
	e.limit = faultyGetLimit
	start := time.Now()
	results := make([]*proxied, n)
	var mu sync.Mutex // guards fired
	fired := 0
	rexectest.Parallel(n, flipWorkers, func(i int) {
		plan := faultproxy.Plan{Faults: []faultproxy.Fault{faults[i]}}
		r, err := e.through(plan, d.get(i, false))
		if err != nil {
			t.Errorf("download %d (%v): %v", i, faults[i], err)
			return
		}
		if len(r.link.Fired()) > 0 {
			mu.Lock()
			fired++
			mu.Unlock()
		}
		results[i] = r
	})
	elapsed := time.Since(start)
	e.checkSettled(t, before)

	st := getStats{}
	var partials []int
	for i, r := range results {
		if r != nil && d.check(t, &st, i, faults[i], r) {
			partials = append(partials, i)
		}
	}
	d.checkStrays(t, n)
	t.Logf("%d downloads of %d KiB, %s, in %v (%d workers): %d faults applied; %s",
		n, getSize>>10, kind, elapsed.Round(time.Millisecond), flipWorkers, fired, st.String())

	// Every partial file kept must resume into exactly the file.
	e.limit = 0
	var resumed, fromOffset int
	rexectest.Parallel(len(partials), flipWorkers, func(k int) {
		i := partials[k]
		var res transfer.Result
		r, err := e.through(faultproxy.Plan{}, d.getResult(i, true, &res))
		if err == nil {
			err = r.err
		}
		got, rerr := os.ReadFile(d.localPath(i))
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			t.Errorf("download %d: resuming its partial file: %v", i, err)
		case rerr != nil || !bytes.Equal(got, d.content(i)):
			t.Errorf("download %d: the resumed file is not the file sent (%d bytes, %v)", i, len(got), rerr)
		case len(d.partials(i)) > 0:
			t.Errorf("download %d: partial files left after a complete resume: %v", i, d.partials(i))
		default:
			resumed++
			if res.Offset > 0 {
				fromOffset++
			}
		}
	})
	e.checkSettled(t, before)
	t.Logf("%d partial files resumed into the exact file (%d from an offset > 0)", resumed, fromOffset)
}

// downloads is the file tree of TestGetFaults: file-I on the server, and
// file-I (half of them with an old version) beside its partial files on
// the client.
type downloads struct{ remote, local string }

func (d downloads) remotePath(i int) string { return filepath.Join(d.remote, d.name(i)) }
func (d downloads) localPath(i int) string  { return filepath.Join(d.local, d.name(i)) }
func (downloads) name(i int) string         { return "file-" + strconv.Itoa(i) }

// content is the file the server offers as file-I; old is what the
// client's file-I held before, when it existed (shorter, so that no
// prefix of one is the other).
func (downloads) content(i int) []byte { return randomBytes(uint64(i), 7, getSize) }
func (downloads) old(i int) []byte     { return randomBytes(uint64(i), 11, getSize/3) }

func randomBytes(seed, stream uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, stream))
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(r.UintN(256))
	}
	return b
}

// get is the act of one download of file-I into the local directory.
func (d downloads) get(i int, resume bool) func(context.Context, context.CancelFunc, *client.Conn) error {
	return d.getResult(i, resume, nil)
}

// getResult is get, keeping the file's transfer.Result in res (when not
// nil).
func (d downloads) getResult(i int, resume bool, res *transfer.Result) func(context.Context, context.CancelFunc, *client.Conn) error {
	return func(ctx context.Context, _ context.CancelFunc, c *client.Conn) error {
		var fileErr error
		o := client.CopyOptions{Resume: resume, Done: func(_, _ string, r transfer.Result, err error) {
			fileErr = err
			if res != nil {
				*res = r
			}
		}}
		sum, err := c.Get(ctx, d.remotePath(i), d.local, d.name(i), o)
		if err == nil && fileErr == nil && sum.Entries != 1 {
			err = fmt.Errorf("%d entries arrived, want 1", sum.Entries)
		}
		return errors.Join(err, fileErr)
	}
}

// partials lists the partial files beside file-I.
func (d downloads) partials(i int) []string {
	prefix := "." + d.name(i) + "."
	ents, _ := os.ReadDir(d.local)
	var ps []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) && transfer.IsPartName(e.Name()) {
			ps = append(ps, e.Name())
		}
	}
	return ps
}

// getStats counts what the damaged downloads left, for the log and
// docs/TESTING.md.
type getStats struct {
	errors                      int
	succeeded, committedNew     int
	keptOld, keptNone, partials int
}

func (s getStats) String() string {
	return fmt.Sprintf("%d client successes; targets: %d new and exact, %d old content kept, %d still absent; "+
		"%d partial files kept for --resume, each a prefix of the file", s.succeeded, s.committedNew, s.keptOld, s.keptNone, s.partials)
}

// check applies TestGetFaults' rules to download i and reports whether it
// left a partial file.
func (d downloads) check(t *testing.T, s *getStats, i int, f faultproxy.Fault, r *proxied) bool {
	t.Helper()
	fail := func(format string, args ...any) {
		if s.errors++; s.errors <= 20 {
			t.Errorf("download %d (%v): "+format+" (client: %v)", append([]any{i, f}, append(args, r.err)...)...)
		}
	}
	if r.err == nil {
		s.succeeded++
	}
	got, err := os.ReadFile(d.localPath(i))
	switch {
	case err == nil && bytes.Equal(got, d.content(i)):
		s.committedNew++
	case r.err == nil:
		fail("the client reported success, the target holds %d bytes that are not the file sent (%v)", len(got), err)
	case err == nil && i%2 == 0 && bytes.Equal(got, d.old(i)):
		s.keptOld++
	case errors.Is(err, os.ErrNotExist) && i%2 != 0:
		s.keptNone++
	default:
		fail("the target holds %d bytes that are neither the old nor the new file (%v)", len(got), err)
	}
	ps := d.partials(i)
	if len(ps) > 1 || (len(ps) == 1 && r.err == nil) {
		fail("partial files %v after a download that reported %v", ps, r.err)
	}
	for _, p := range ps {
		b, err := os.ReadFile(filepath.Join(d.local, p))
		if err != nil || !bytes.HasPrefix(d.content(i), b) {
			fail("partial file %s holds %d bytes that are not a prefix of the file (%v)", p, len(b), err)
		}
	}
	s.partials += len(ps)
	return len(ps) > 0
}

// checkStrays fails the test for any entry of the local directory that is
// neither a target nor a partial file of one.
func (d downloads) checkStrays(t *testing.T, n int) {
	t.Helper()
	ents, err := os.ReadDir(d.local)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		name, part := e.Name(), transfer.IsPartName(e.Name())
		if part {
			name, _, _ = strings.Cut(name[1:], ".rexec-part-")
		}
		i, err := strconv.Atoi(strings.TrimPrefix(name, "file-"))
		if err != nil || i < -1 || i >= n || name != d.name(i) {
			t.Errorf("stray entry %q beside the downloads", e.Name())
		}
	}
}
