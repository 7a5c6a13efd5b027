//go:build load && linux

package load

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transfer"
)

// soakWorkers is how many clients run scenarios at once during the soak.
const soakWorkers = 6

// scenario is one kind of request the soak makes, with its check.
type scenario struct {
	name string
	run  func(ctx context.Context, d *daemon, w *workspace) error
}

// workspace is a soak worker's local and remote scratch directories.
type workspace struct {
	local, remote string
	n             int
}

// scenarios covers every request path: output on both streams, exit
// codes, stdin, bulk output, the timeout, signals, a client that vanishes
// with a tree running, PTY, connection reuse, and file transfer both ways.
var scenarios = []scenario{
	{"echo", func(ctx context.Context, d *daemon, _ *workspace) error {
		return expectRun(ctx, d, protocol.Exec{Argv: []string{"echo", "hello"}}, nil, "hello\n", "", 0)
	}},
	{"exit code and stderr", func(ctx context.Context, d *daemon, _ *workspace) error {
		return expectRun(ctx, d, protocol.Exec{Command: "echo oops >&2; exit 7"}, nil, "", "oops\n", 7)
	}},
	{"stdin 256 KiB", func(ctx context.Context, d *daemon, _ *workspace) error {
		in := randomBytes(256 << 10)
		return expectRun(ctx, d, protocol.Exec{Argv: []string{"cat"}}, in, string(in), "", 0)
	}},
	{"1 MiB output", func(ctx context.Context, d *daemon, _ *workspace) error {
		return expectRun(ctx, d, protocol.Exec{Command: "head -c 1048576 /dev/zero"}, nil, string(make([]byte, 1<<20)), "", 0)
	}},
	{"timeout", func(ctx context.Context, d *daemon, _ *workspace) error {
		res, err := d.run(ctx, protocol.Exec{Argv: []string{"sleep", "5"}, TimeoutMS: 100}, client.IO{})
		if err != nil || !res.Exit.TimedOut || res.Exit.Code != 124 {
			return fmt.Errorf("sleep with timeout: %+v, %v; want timed_out, 124", res.Exit, err)
		}
		return nil
	}},
	{"signal", func(ctx context.Context, d *daemon, _ *workspace) error {
		sigs := make(chan string, 1)
		sigs <- "TERM"
		res, err := d.run(ctx, protocol.Exec{Argv: []string{"sleep", "5"}}, client.IO{Signals: sigs})
		if err != nil || res.Exit.Signal != "TERM" || res.Exit.Code != 143 {
			return fmt.Errorf("sleep with TERM: %+v, %v; want signal TERM, 143", res.Exit, err)
		}
		return nil
	}},
	{"client vanishes", func(ctx context.Context, d *daemon, _ *workspace) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		out := lineCanceller{cancel: cancel}
		_, err := d.run(ctx, protocol.Exec{Command: "sleep 30 & echo $!; wait"}, client.IO{Stdout: &out})
		if client.OutcomeOf(err) != outcome.ConnectionLost {
			return fmt.Errorf("cancelled run: %v, want connection_lost", err)
		}
		return nil
	}},
	{"pty", func(ctx context.Context, d *daemon, _ *workspace) error {
		var out bytes.Buffer
		res, err := d.run(ctx, protocol.Exec{Command: "tty >/dev/null && echo on-a-tty", PTY: true, Rows: 24, Cols: 80}, client.IO{Stdout: &out})
		if err != nil || res.Exit.Code != 0 || !strings.Contains(out.String(), "on-a-tty") {
			return fmt.Errorf("pty: %q, %+v, %v", out.String(), res.Exit, err)
		}
		return nil
	}},
	{"reuse", func(ctx context.Context, d *daemon, _ *workspace) error {
		c, err := d.dial(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		for i := range 3 {
			var out bytes.Buffer
			res, err := c.Run(ctx, protocol.Exec{Argv: []string{"echo", strconv.Itoa(i)}}, client.IO{Stdout: &out, Stderr: io.Discard})
			if err != nil || res.Exit.Code != 0 || out.String() != strconv.Itoa(i)+"\n" {
				return fmt.Errorf("run %d on a reused connection: %q, %+v, %v", i, out.String(), res.Exit, err)
			}
		}
		return nil
	}},
	{"put and get 200 KiB", putGet},
}

func putGet(ctx context.Context, d *daemon, w *workspace) error {
	w.n++
	name := "f" + strconv.Itoa(w.n)
	data := randomBytes(200 << 10)
	src := filepath.Join(w.local, name)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		return err
	}
	defer os.Remove(src)
	c, err := d.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var fileErr error
	o := client.CopyOptions{Done: func(_, _ string, _ transfer.Result, err error) {
		if err != nil {
			fileErr = err
		}
	}}
	if _, err := c.Put(ctx, w.remote, []client.PutItem{{Local: src, Name: name}}, o); err != nil || fileErr != nil {
		return fmt.Errorf("put: %v %v", err, fileErr)
	}
	defer os.Remove(filepath.Join(w.remote, name))
	back := name + ".back"
	if _, err := c.Get(ctx, filepath.Join(w.remote, name), w.local, back, o); err != nil || fileErr != nil {
		return fmt.Errorf("get: %v %v", err, fileErr)
	}
	defer os.Remove(filepath.Join(w.local, back))
	got, err := os.ReadFile(filepath.Join(w.local, back))
	if err != nil || !bytes.Equal(got, data) {
		return fmt.Errorf("round trip: %d bytes back (%v), want the %d sent", len(got), err, len(data))
	}
	return nil
}

// expectRun runs req with stdin and checks its output and exit code.
func expectRun(ctx context.Context, d *daemon, req protocol.Exec, stdin []byte, stdout, stderr string, code int) error {
	var out, errOut bytes.Buffer
	sio := client.IO{Stdout: &out, Stderr: &errOut}
	if stdin != nil {
		sio.Stdin = bytes.NewReader(stdin)
	}
	res, err := d.run(ctx, req, sio)
	if err != nil || res.Exit.Code != code || out.String() != stdout || errOut.String() != stderr {
		return fmt.Errorf("%+v: stdout %d bytes, stderr %q, exit %+v, err %v; want %d bytes, %q, %d",
			req, out.Len(), errOut.String(), res.Exit, err, len(stdout), stderr, code)
	}
	return nil
}

// lineCanceller cancels its run at the first newline of output.
type lineCanceller struct{ cancel context.CancelFunc }

func (l *lineCanceller) Write(b []byte) (int, error) {
	if bytes.IndexByte(b, '\n') >= 0 {
		l.cancel()
	}
	return len(b), nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// TestSoak runs the scenarios from soakWorkers clients for REXEC_SOAK
// (default 60 s; `make soak` runs 30 minutes), sampling the daemon's RSS,
// threads and descriptors, and checks that they stay flat: once the load
// stops, the daemon is back to (at most) its idle descriptors, its threads
// stay within what the clients' concurrency explains, its memory within a
// small margin of idle and without a trend under load; and every scenario
// gave the exact result every time.
func TestSoak(t *testing.T) {
	dur := envDuration("REXEC_SOAK", 60*time.Second)
	d := startDaemon(t)
	base := t.TempDir()
	spaces := make([]*workspace, soakWorkers)
	for i := range spaces {
		spaces[i] = &workspace{local: filepath.Join(base, "local"+strconv.Itoa(i)), remote: filepath.Join(base, "remote"+strconv.Itoa(i))}
		for _, dir := range []string{spaces[i].local, spaces[i].remote} {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Warm-up: every scenario a few times, then the idle level.
	for range 3 {
		for _, s := range scenarios {
			if err := s.run(context.Background(), d, spaces[0]); err != nil {
				t.Fatalf("warm-up %s: %v", s.name, err)
			}
		}
	}
	d.waitIdle(t, 0, time.Minute)
	time.Sleep(time.Second)
	idle := d.stats()
	t.Logf("idle after warm-up: %v", idle)

	counts := make([]atomic.Int64, len(scenarios))
	var failures atomic.Int64
	deadline := time.Now().Add(dur)
	samples := sampleUntil(d, deadline, max(dur/60, time.Second))
	var wg sync.WaitGroup
	for i := range soakWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			for time.Now().Before(deadline) {
				k := rng.IntN(len(scenarios))
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				err := scenarios[k].run(ctx, d, spaces[i])
				cancel()
				counts[k].Add(1)
				if err != nil && failures.Add(1) <= 10 {
					t.Errorf("%s: %v", scenarios[k].name, err)
				}
			}
		}()
	}
	wg.Wait()
	series := <-samples
	d.waitIdle(t, idle.fds, time.Minute)
	time.Sleep(time.Second)
	end := d.stats()

	var total int64
	var mix []string
	for k := range scenarios {
		total += counts[k].Load()
		mix = append(mix, fmt.Sprintf("%s %d", scenarios[k].name, counts[k].Load()))
	}
	t.Logf("%v soak: %d requests (%.0f/s), %d failures: %s", dur, total, float64(total)/dur.Seconds(), failures.Load(), strings.Join(mix, ", "))
	t.Logf("under load: RSS %s MiB; threads %s; fds %s", series.rss(), series.threads(), series.fds())
	t.Logf("idle at the end: %v (idle after warm-up: %v)", end, idle)
	if end.fds > idle.fds { // fewer is a transient of the idle sample (a connection lingering out)
		t.Errorf("descriptors: %d idle after the soak, %d before", end.fds, idle.fds)
	}
	// The Go runtime keeps every thread it made: the count is a high-water
	// mark of blocking system calls at once (a session's wait for its
	// process is one), bounded by the clients' concurrency, not by time.
	if limit := idle.threads + 4*soakWorkers; end.threads > limit {
		t.Errorf("threads: %d idle after the soak, %d before (limit %d)", end.threads, idle.threads, limit)
	}
	if limit := idle.rssKiB*3/2 + 16<<10; end.rssKiB > limit {
		t.Errorf("RSS: %d KiB idle after the soak, %d before (limit %d)", end.rssKiB, idle.rssKiB, limit)
	}
	if first, last := series.quarterMeanRSS(1), series.quarterMeanRSS(3); last > first*5/4+8<<10 {
		t.Errorf("RSS under load grows: mean %d KiB in the second quarter, %d KiB in the last", first, last)
	}
}

// series is the daemon's stats sampled during the soak.
type series []procStats

// sampleUntil samples d every interval until deadline and then sends the
// series.
func sampleUntil(d *daemon, deadline time.Time, interval time.Duration) <-chan series {
	out := make(chan series, 1)
	go func() {
		var s series
		for time.Now().Before(deadline) {
			time.Sleep(interval)
			s = append(s, d.stats())
		}
		out <- s
	}()
	return out
}

func (s series) summary(f func(procStats) float64, format string) string {
	if len(s) == 0 {
		return "-"
	}
	lo, hi := f(s[0]), f(s[0])
	for _, p := range s {
		lo, hi = min(lo, f(p)), max(hi, f(p))
	}
	return fmt.Sprintf("first "+format+", min "+format+", max "+format+", last "+format, f(s[0]), lo, hi, f(s[len(s)-1]))
}

func (s series) rss() string {
	return s.summary(func(p procStats) float64 { return float64(p.rssKiB) / 1024 }, "%.1f")
}
func (s series) threads() string {
	return s.summary(func(p procStats) float64 { return float64(p.threads) }, "%.0f")
}
func (s series) fds() string {
	return s.summary(func(p procStats) float64 { return float64(p.fds) }, "%.0f")
}

// quarterMeanRSS is the mean RSS of the q-th quarter (0-3) of the samples.
func (s series) quarterMeanRSS(q int) int {
	part := s[q*len(s)/4 : (q+1)*len(s)/4]
	if len(part) == 0 {
		return 0
	}
	sum := 0
	for _, p := range part {
		sum += p.rssKiB
	}
	return sum / len(part)
}
