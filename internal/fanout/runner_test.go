package fanout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rexec-dev/rexec/internal/outcome"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeHosts stands in for the network: each host sleeps a little and ends
// as fail says; it records how many ran at once and in which order.
type fakeHosts struct {
	fail  func(host string) bool
	delay time.Duration

	mu      sync.Mutex
	running int
	peak    int
	order   []string
}

func (f *fakeHosts) run(ctx context.Context, index int, host string, p Printer) Result {
	f.mu.Lock()
	f.running++
	f.peak = max(f.peak, f.running)
	f.order = append(f.order, host)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.running--; f.mu.Unlock() }()
	stdout, _ := p.Begin(index, host)
	io.WriteString(stdout, "hi\n")
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return Result{Index: index, Host: host, Outcome: outcome.ConnectionLost, Err: context.Cause(ctx)}
	}
	if f.fail != nil && f.fail(host) {
		return Result{Index: index, Host: host, Outcome: outcome.Exited, ExitCode: 1}
	}
	return Result{Index: index, Host: host, Outcome: outcome.Exited}
}

func hostNames(n int) []string {
	hs := make([]string, n)
	for i := range hs {
		hs[i] = fmt.Sprintf("h%d", i)
	}
	return hs
}

func count(rs []Result, o outcome.Outcome) int {
	n := 0
	for _, r := range rs {
		if r.Outcome == o {
			n++
		}
	}
	return n
}

func runFake(t *testing.T, ctx context.Context, f *fakeHosts, opts Options, n int) []Result {
	t.Helper()
	r := &Runner{Options: opts, runHost: f.run}
	rs, err := r.Run(ctx, hostNames(n), NewJSONPrinter(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != n {
		t.Fatalf("Run returned %d results for %d hosts", len(rs), n)
	}
	for i, r := range rs {
		if r.Index != i || r.Host != fmt.Sprintf("h%d", i) {
			t.Fatalf("result %d is %+v; want host h%d in place", i, r, i)
		}
	}
	return rs
}

func TestRunBoundedConcurrency(t *testing.T) {
	for _, par := range []int{1, 7, 0} {
		f := &fakeHosts{delay: 2 * time.Millisecond}
		rs := runFake(t, context.Background(), f, Options{Parallel: par}, 200)
		want := par
		if par == 0 {
			want = DefaultParallel
		}
		if f.peak > want || f.peak < min(want, 2) {
			t.Errorf("-f %d: peak %d hosts at once; want at most %d (and some parallelism)", par, f.peak, want)
		}
		if c := count(rs, outcome.Exited); c != 200 {
			t.Errorf("-f %d: %d exited, want 200", par, c)
		}
	}
}

func TestRunOneFailureNeverStopsOthers(t *testing.T) {
	f := &fakeHosts{fail: func(h string) bool { return h == "h3" }}
	rs := runFake(t, context.Background(), f, Options{Parallel: 4}, 50)
	if ExitStatus(rs) != 1 || count(rs, outcome.Exited) != 50 || rs[3].OK() {
		t.Errorf("one failing host: status %d, %d exited; want 1 and all 50 run", ExitStatus(rs), count(rs, outcome.Exited))
	}
}

func TestRunFailFast(t *testing.T) {
	f := &fakeHosts{fail: func(h string) bool { return h == "h2" }}
	rs := runFake(t, context.Background(), f, Options{Parallel: 1, FailFast: true}, 10)
	if count(rs, outcome.Exited) != 3 || count(rs, outcome.Skipped) != 7 || !errors.Is(rs[9].Err, ErrFailFast) {
		t.Errorf("--fail-fast -f 1 with h2 failing: %d run, %d skipped, last %v; want 3, 7, ErrFailFast",
			count(rs, outcome.Exited), count(rs, outcome.Skipped), rs[9].Err)
	}
	if ExitStatus(rs) != 1 {
		t.Errorf("status %d, want the failure's 1", ExitStatus(rs))
	}
}

func TestRunMaxFailures(t *testing.T) {
	odd := func(h string) bool { var n int; fmt.Sscanf(h, "h%d", &n); return n%2 == 1 }
	tests := []struct {
		budget  string
		started int
	}{
		{"0", 2},   // h0 ok, h1 fails: over budget
		{"2", 6},   // h1 h3 h5 fail: the third is one too many
		{"10%", 6}, // 10% of 20 hosts is 2
		{"100%", 20},
	}
	for _, tt := range tests {
		b, _ := ParseBudget(tt.budget)
		f := &fakeHosts{fail: odd}
		rs := runFake(t, context.Background(), f, Options{Parallel: 1, MaxFailures: b}, 20)
		if got := 20 - count(rs, outcome.Skipped); got != tt.started {
			t.Errorf("--max-failures %s: %d hosts started, want %d", tt.budget, got, tt.started)
		}
		if tt.started < 20 && !errors.Is(rs[19].Err, ErrTooManyFailures) {
			t.Errorf("--max-failures %s: skipped host says %v, want ErrTooManyFailures", tt.budget, rs[19].Err)
		}
	}
}

// TestRunBatchWaves: with --batch 5 no host of a wave starts before the
// previous wave has ended, even with room in -f.
func TestRunBatchWaves(t *testing.T) {
	var mu sync.Mutex
	ended := 0
	var violations atomic.Int32
	r := &Runner{Options: Options{Parallel: 50, Batch: Budget{n: 5, set: true}}}
	r.runHost = func(ctx context.Context, i int, h string, p Printer) Result {
		mu.Lock()
		if ended < i/5*5 { // hosts of earlier waves not all ended
			violations.Add(1)
		}
		mu.Unlock()
		time.Sleep(time.Duration(i%5) * time.Millisecond)
		mu.Lock()
		ended++
		mu.Unlock()
		return Result{Index: i, Host: h, Outcome: outcome.Exited}
	}
	rs, err := r.Run(context.Background(), hostNames(23), NewJSONPrinter(io.Discard))
	if err != nil || count(rs, outcome.Exited) != 23 || violations.Load() != 0 {
		t.Errorf("--batch 5: %d exited, %d hosts started before their wave, err %v", count(rs, outcome.Exited), violations.Load(), err)
	}
}

// TestRunBatchWithMaxFailures: the failure budget is checked between
// waves, so a bad first wave stops the rollout (Salt's canary batch).
func TestRunBatchWithMaxFailures(t *testing.T) {
	f := &fakeHosts{fail: func(h string) bool { return h == "h1" || h == "h2" }}
	batch, _ := ParseBudget("25%")
	maxf, _ := ParseBudget("1")
	rs := runFake(t, context.Background(), f, Options{Parallel: 10, Batch: batch, MaxFailures: maxf}, 12)
	if count(rs, outcome.Exited) != 3 || count(rs, outcome.Skipped) != 9 {
		t.Errorf("--batch 25%% --max-failures 1 with 2 failures in wave 1: %d ran, %d skipped; want 3, 9",
			count(rs, outcome.Exited), count(rs, outcome.Skipped))
	}
}

// TestRunCancel: cancelling stops starting hosts, interrupts the running
// ones, and returns promptly; nothing is reported as success that was not.
func TestRunCancel(t *testing.T) {
	f := &fakeHosts{delay: time.Hour}
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(50*time.Millisecond, func() { cancel(errors.New("interrupted by test")) })
	start := time.Now()
	rs := runFake(t, ctx, f, Options{Parallel: 4}, 100)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run took %v after cancel", took)
	}
	if count(rs, outcome.ConnectionLost) != 4 || count(rs, outcome.Skipped) != 96 || ExitStatus(rs) != outcome.ExitFailure {
		t.Errorf("cancelled: %d lost, %d skipped, status %d; want 4, 96, 255",
			count(rs, outcome.ConnectionLost), count(rs, outcome.Skipped), ExitStatus(rs))
	}
	if !errors.Is(rs[99].Err, ErrInterrupted) {
		t.Errorf("skipped host says %v, want ErrInterrupted", rs[99].Err)
	}
}

func TestOptionsValidate(t *testing.T) {
	zero, _ := ParseBudget("0")
	zeroPct, _ := ParseBudget("0%")
	for _, o := range []Options{{Parallel: -1}, {Batch: zero}, {Batch: zeroPct}} {
		if _, err := (&Runner{Options: o}).Run(context.Background(), []string{"h"}, NewJSONPrinter(io.Discard)); !errors.Is(err, ErrBadOptions) {
			t.Errorf("Run with %+v = %v, want ErrBadOptions", o, err)
		}
	}
}
