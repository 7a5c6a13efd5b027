package fanout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
)

func ok(host string) Result { return Result{Host: host, Outcome: outcome.Exited} }

func TestExitStatus(t *testing.T) {
	exit := func(code int) Result { return Result{Host: "h", Outcome: outcome.Exited, ExitCode: code} }
	timedOut := Result{Host: "t", Outcome: outcome.TimedOut, ExitCode: 124}
	killed := Result{Host: "k", Outcome: outcome.Signaled, ExitCode: 137, Signal: "KILL"}
	down := Result{Host: "d", Outcome: outcome.ConnectFailed, Err: errors.New("refused")}
	skipped := Result{Host: "s", Outcome: outcome.Skipped, Err: ErrFailFast}
	tests := []struct {
		name    string
		results []Result
		want    int
	}{
		{"all ok", []Result{ok("a"), ok("b")}, 0},
		{"no hosts", nil, 0},
		{"highest code", []Result{ok("a"), exit(3), exit(1)}, 3},
		{"timeout is 124", []Result{exit(3), timedOut}, 124},
		{"signal is 128+N", []Result{timedOut, killed}, 137},
		{"unreachable wins", []Result{killed, down, exit(3)}, 255},
		{"host key mismatch", []Result{ok("a"), {Outcome: outcome.HostKeyMismatch}}, 255},
		{"connection lost", []Result{ok("a"), {Outcome: outcome.ConnectionLost}}, 255},
		{"denied", []Result{ok("a"), {Outcome: outcome.Denied}}, 255},
		{"skipped keeps the code", []Result{exit(3), skipped}, 3},
		{"skipped never ok", []Result{ok("a"), skipped}, 255},
	}
	for _, tt := range tests {
		if got := ExitStatus(tt.results); got != tt.want {
			t.Errorf("%s: ExitStatus = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestSummary(t *testing.T) {
	var rs []Result
	for i := 1; i <= 9; i++ {
		rs = append(rs, ok(fmt.Sprintf("web%02d", i)))
	}
	rs[6] = Result{Host: "web07", Outcome: outcome.Exited, ExitCode: 1}
	rs[7] = Result{Host: "web08", Outcome: outcome.TimedOut, ExitCode: 124}
	rs[8] = Result{Host: "web09", Outcome: outcome.ConnectFailed}
	got := Summary(rs)
	want := "6 ok, 2 failed (web[07-08]), 1 unreachable (web09)"
	if got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	rs = append(rs, Result{Host: "web10", Outcome: outcome.Skipped})
	if got := Summary(rs); !strings.HasSuffix(got, ", 1 skipped (web10)") {
		t.Errorf("Summary with a skipped host = %q, want it counted", got)
	}
	var many []Result
	for i := range 1000 {
		many = append(many, Result{Host: fmt.Sprintf("h%d.x", i*2), Outcome: outcome.ConnectFailed})
	}
	if got := Summary(many); len(got) > 300 || !strings.Contains(got, "1000 unreachable (") || !strings.Contains(got, ",…)") {
		t.Errorf("Summary of 1000 unreachable = %q (%d bytes); want a bounded list", got, len(got))
	}
	if got := cutAtTopComma("a[1,3],b[2,4],c", 9); got != "a[1,3]" {
		t.Errorf("cutAtTopComma = %q, want a[1,3]", got)
	}
}

func TestExitResult(t *testing.T) {
	tests := []struct {
		exit protocol.Exit
		want Result
	}{
		{protocol.Exit{Code: 0}, Result{Outcome: outcome.Exited}},
		{protocol.Exit{Code: 3}, Result{Outcome: outcome.Exited, ExitCode: 3}},
		{protocol.Exit{Code: 137, Signal: "KILL", SignalNumber: 9}, Result{Outcome: outcome.Signaled, ExitCode: 137, Signal: "KILL"}},
		{protocol.Exit{Signal: "TERM", SignalNumber: 15}, Result{Outcome: outcome.Signaled, ExitCode: 143, Signal: "TERM"}},
		{protocol.Exit{Code: 124, TimedOut: true, Signal: "TERM"}, Result{Outcome: outcome.TimedOut, ExitCode: 124}},
	}
	for _, tt := range tests {
		if got := exitResult(tt.exit); got != tt.want {
			t.Errorf("exitResult(%+v) = %+v, want %+v", tt.exit, got, tt.want)
		}
	}
	got := exitResult(protocol.Exit{Code: 127, Error: "no such file"})
	if got.OK() || got.ExitCode != 127 || got.Err == nil {
		t.Errorf("exitResult(start failure) = %+v; want exit 127 with an error", got)
	}
}

func TestDescribe(t *testing.T) {
	r := Result{Host: "h", Outcome: outcome.ConnectFailed,
		Err: &client.Error{Outcome: outcome.ConnectFailed, Host: "h", Err: errors.New("dial: connection\nrefused")}}
	if got, want := r.Describe(), "connect_failed: dial: connection refused"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	// A server's message or file name is shown with its controls escaped,
	// in the text line and in the json record alike.
	r = Result{Host: "h", Outcome: outcome.CopyFailed, ExitCode: 1,
		Err: errors.New("h:\x1b]0;owned\x07report\u009b2J: permission denied")}
	want := `copy_failed: h:\x1b]0;owned\x07report\u009b2J: permission denied`
	if got := r.Describe(); got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	if rec := NewRecord(r, nil, nil, false); rec.Error == nil || "copy_failed: "+*rec.Error != want {
		t.Errorf("record error = %v, want %q", rec.Error, want)
	}
}

// TestCopyOutcomes: a copy's outcomes count as a command's exit 0 and 1
// do; a Job's timeout is timed_out (124) and says so without claiming a
// kill.
func TestCopyOutcomes(t *testing.T) {
	copied := Result{Host: "a", Outcome: outcome.Copied, Copy: &client.CopySummary{Entries: 3, Bytes: 10}}
	failed := Result{Host: "b", Outcome: outcome.CopyFailed, ExitCode: 1, Err: errors.New("b:/x: permission denied")}
	timedOut := failedResult(context.Background(), fmt.Errorf("lost: %w", ErrJobTimeout))
	down := Result{Host: "d", Outcome: outcome.ConnectFailed, Err: errors.New("refused")}
	if !copied.OK() || !copied.Ran() || copied.Status() != 0 || copied.Unreachable() {
		t.Errorf("copied: OK %v Ran %v Status %d Unreachable %v; want true true 0 false",
			copied.OK(), copied.Ran(), copied.Status(), copied.Unreachable())
	}
	if failed.OK() || !failed.Ran() || failed.Status() != 1 || failed.Unreachable() {
		t.Errorf("copy_failed: OK %v Ran %v Status %d Unreachable %v; want false true 1 false",
			failed.OK(), failed.Ran(), failed.Status(), failed.Unreachable())
	}
	if timedOut.Outcome != outcome.TimedOut || timedOut.Status() != 124 {
		t.Errorf("failedResult(ErrJobTimeout) = %+v, want timed_out 124", timedOut)
	}
	if got, want := timedOut.Describe(), "timed_out (exit status 124): lost: "+ErrJobTimeout.Error(); got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	if got, want := failed.Describe(), "copy_failed: b:/x: permission denied"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	timedOut.Host = "c"
	rs := []Result{copied, failed, timedOut, down}
	if got := ExitStatus(rs); got != 255 {
		t.Errorf("ExitStatus = %d, want 255 (a host unreachable)", got)
	}
	if got := ExitStatus(rs[:3]); got != 124 {
		t.Errorf("ExitStatus without the unreachable host = %d, want 124", got)
	}
	if got, want := Summary(rs), "1 ok, 2 failed (b,c), 1 unreachable (d)"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
}

// TestFailedResultCause: the cause of the context's end names the
// outcome, whatever error the closed connection gave.
func TestFailedResultCause(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(ErrJobTimeout)
	lost := &client.Error{Outcome: outcome.ConnectionLost, Host: "h", Err: errors.New("use of closed connection")}
	if got := failedResult(ctx, lost); got.Outcome != outcome.TimedOut || !errors.Is(got.Err, ErrJobTimeout) {
		t.Errorf("failedResult after the job timeout = %+v, want timed_out", got)
	}
	mismatch := &client.Error{Outcome: outcome.HostKeyMismatch, Host: "h", Err: errors.New("changed")}
	if got := failedResult(context.Background(), mismatch); got.Outcome != outcome.HostKeyMismatch || got.Err != error(mismatch) {
		t.Errorf("failedResult(mismatch) = %+v, want host_key_mismatch with its error", got)
	}
}
