//go:build linux

package reliability

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/faultproxy"
	"github.com/rexec-dev/rexec/internal/rexectest"
	"github.com/rexec-dev/rexec/internal/server"
	"github.com/rexec-dev/rexec/internal/transfer"
)

// putSize is the file each damaged upload carries: several records of
// data, so flips land in file data as often as in the protocol around it.
const putSize = 48 << 10

// TestBitFlipsPut uploads a different random file on every connection
// (`rexec cp`), with one random bit of the TLS stream flipped, in either
// direction, anywhere in the conversation. It proves that no damaged
// stream commits a damaged file: once every connection is over, each
// target name holds either nothing or exactly the file that was sent, and
// a Put the client reports as complete has committed exactly that. (A
// partial file the server keeps for --resume is not a committed file; the
// count of those is logged.)
func TestBitFlipsPut(t *testing.T) {
	n := runs(50, 100, 1000)
	rng := newRand(t)
	e := startEnv(t, server.Config{})
	local, remote := t.TempDir(), t.TempDir()
	content := func(i int) []byte {
		r := rand.New(rand.NewPCG(uint64(i), 7))
		b := make([]byte, putSize)
		for j := range b {
			b[j] = byte(r.UintN(256))
		}
		return b
	}
	put := func(i int) func(context.Context, context.CancelFunc, *client.Conn) error {
		name := "file-" + strconv.Itoa(i)
		return func(ctx context.Context, _ context.CancelFunc, c *client.Conn) error {
			var fileErr error
			o := client.CopyOptions{Done: func(_, _ string, _ transfer.Result, err error) { fileErr = err }}
			_, err := c.Put(ctx, remote, []client.PutItem{{Local: filepath.Join(local, name), Name: name}}, o)
			return errors.Join(err, fileErr)
		}
	}
	for i := -1; i < n; i++ {
		if err := os.WriteFile(filepath.Join(local, "file-"+strconv.Itoa(i)), content(i), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base, err := e.through(faultproxy.Plan{}, put(-1))
	if err != nil || base.err != nil {
		t.Fatalf("faithful upload: %v, %v", err, base.err)
	}
	before := quiet(t)

	flips := make([]flip, n)
	for i := range flips {
		f := flip{dir: faultproxy.Direction(rng.IntN(2)), bit: uint8(rng.IntN(8))}
		total := base.runUp
		if f.dir == faultproxy.Down {
			total = base.runDown
		}
		f.at = rng.Int64N(total)
		flips[i] = f
	}
	start := time.Now()
	results := make([]*proxied, n)
	var fired atomic.Int64
	rexectest.Parallel(n, flipWorkers, func(i int) {
		f := flips[i]
		plan := faultproxy.Plan{Faults: []faultproxy.Fault{{Kind: faultproxy.Flip, Dir: f.dir, At: f.at, Bit: f.bit}}}
		r, err := e.through(plan, put(i))
		if err != nil {
			t.Errorf("upload %d (%v): %v", i, f, err)
			return
		}
		if len(r.link.Fired()) > 0 {
			fired.Add(1)
		}
		results[i] = r
	})
	elapsed := time.Since(start)
	e.checkSettled(t, before)

	var committed, succeeded, bad int
	for i, r := range results {
		if r == nil {
			continue
		}
		got, err := os.ReadFile(filepath.Join(remote, "file-"+strconv.Itoa(i)))
		switch {
		case err == nil && !bytes.Equal(got, content(i)):
			if bad++; bad <= 20 {
				t.Errorf("upload %d (%v): the target holds %d bytes that are not the file sent (client: %v)", i, flips[i], len(got), r.err)
			}
		case err == nil:
			committed++
		case r.err == nil:
			t.Errorf("upload %d (%v): the client reported success, the target is missing: %v", i, flips[i], err)
		}
		if r.err == nil {
			succeeded++
		}
	}
	ents, _ := os.ReadDir(remote)
	t.Logf("%d uploads of %d KiB with a flipped bit in %v: %d flips applied; %d files committed, all exact; "+
		"%d client successes; %d other entries left beside the targets (partial files kept for --resume)",
		n, putSize>>10, elapsed.Round(time.Millisecond), fired.Load(), committed, succeeded, len(ents)-committed-1)
}
