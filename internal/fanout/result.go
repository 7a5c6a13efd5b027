package fanout

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// Result is one host's run. Output is not kept here: it went to the
// Printer as it arrived.
type Result struct {
	// Index is the host's place in the list given to Run.
	Index int
	// Host is the host as the user wrote it (after range expansion).
	Host string
	// Outcome is how it ended: an outcome.Outcome of docs/CLI.md §7.
	Outcome outcome.Outcome
	// ExitCode is the remote status for Exited, 128+N for Signaled, 124
	// for TimedOut, the status a Job chose for Copied (0) and CopyFailed;
	// it means nothing for the other outcomes.
	ExitCode int
	// Signal names the signal for Signaled ("KILL"), else "".
	Signal string
	// Copy counts what a copy did (Copied, CopyFailed); nil for a command.
	Copy *client.CopySummary
	// Job is the id of the detached job a host started (rexec run
	// --detach), else "".
	Job string
	// Duration is the wall time from the first connect attempt to the
	// end, as this client measured it.
	Duration time.Duration
	// Err says what went wrong, for every outcome but a clean exit; an
	// Exited result carries one only when the server reported that the
	// command could not start.
	Err error
}

// OK reports whether the command ran and exited 0, or the copy was
// complete.
func (r Result) OK() bool {
	return (r.Outcome == outcome.Exited || r.Outcome == outcome.Copied) && r.ExitCode == 0 && r.Err == nil
}

// Ran reports whether the request ran to an end the server reported: a
// command's exit, or a copy whose every entry was answered.
func (r Result) Ran() bool {
	switch r.Outcome {
	case outcome.Exited, outcome.Signaled, outcome.TimedOut, outcome.Copied, outcome.CopyFailed:
		return true
	}
	return false
}

// Unreachable reports whether rexec could not get the request run and
// report its end: every outcome but those of Ran, denied and skipped.
func (r Result) Unreachable() bool {
	return !r.Ran() && r.Outcome != outcome.Denied && r.Outcome != outcome.Skipped
}

// Status is this host's share of the exit status (docs/CLI.md §4): the remote
// code when the command ran (a copy's ExitCode), 255 when rexec failed (unreachable or
// denied), 0 for a skipped host (ExitStatus accounts for those).
func (r Result) Status() int {
	switch {
	case r.Ran():
		return r.ExitCode
	case r.Outcome == outcome.Skipped:
		return 0
	}
	return outcome.ExitFailure
}

// Describe is a one-line account of a result that is not OK, for the
// local stderr: "exit status 3", "timed_out after 1s: ...".
func (r Result) Describe() string {
	var s string
	switch r.Outcome {
	case outcome.Exited:
		s = fmt.Sprintf("exit status %d", r.ExitCode)
	case outcome.Signaled:
		s = fmt.Sprintf("killed by signal %s (exit status %d)", r.Signal, r.ExitCode)
	case outcome.TimedOut:
		s = fmt.Sprintf("timed_out: killed by --timeout (exit status %d)", r.ExitCode)
		if errors.Is(r.Err, ErrJobTimeout) {
			s = fmt.Sprintf("timed_out (exit status %d)", r.ExitCode)
		}
	default:
		s = string(r.Outcome)
	}
	if r.Err != nil {
		s += ": " + errorText(r)
	}
	return s
}

// errorText is the error without the "host: " prefix client errors carry:
// the host is printed beside it already.
func errorText(r Result) string {
	var ce *client.Error
	if errors.As(r.Err, &ce) && ce.Err != nil {
		return oneLine(ce.Err.Error())
	}
	return oneLine(r.Err.Error())
}

// oneLine is s on one line, with the control characters a peer may have
// put in it (a server's error message, a file name) escaped.
func oneLine(s string) string {
	return protocol.Printable(strings.Join(strings.Fields(s), " "))
}

// ExitStatus is the exit status of a fan-out (docs/CLI.md §4): 0 when every host
// exited 0; 255 when any host could not be reached (or was denied);
// otherwise the highest remote code, a timeout counting as 124 and a
// signal N as 128+N. A host that was skipped never exited 0, so a run
// whose other hosts all succeeded still exits 255: "all ok" is never
// claimed for hosts that did not run.
func ExitStatus(results []Result) int {
	status, skipped := 0, false
	for _, r := range results {
		status = max(status, r.Status())
		skipped = skipped || r.Outcome == outcome.Skipped
	}
	if status == 0 && skipped {
		return outcome.ExitFailure
	}
	return status
}

// maxSummaryHosts bounds the compressed host list in each part of the
// summary line, so a thousand distinct failures stay one readable line.
const maxSummaryHosts = 200

// Summary is the line printed on a terminal after a fan-out:
// "48 ok, 1 failed (web07), 1 unreachable (web09)", with ", N skipped"
// when the rollout stopped early. Denied hosts count as failed.
func Summary(results []Result) string {
	var ok int
	var failed, unreachable, skipped []string
	for _, r := range results {
		switch {
		case r.OK():
			ok++
		case r.Outcome == outcome.Skipped:
			skipped = append(skipped, r.Host)
		case r.Unreachable():
			unreachable = append(unreachable, r.Host)
		default:
			failed = append(failed, r.Host)
		}
	}
	s := fmt.Sprintf("%d ok, %s, %s", ok, countHosts(failed, "failed"), countHosts(unreachable, "unreachable"))
	if len(skipped) > 0 {
		s += ", " + countHosts(skipped, "skipped")
	}
	return s
}

// countHosts is "N what (hosts)", or "0 what".
func countHosts(hosts []string, what string) string {
	if len(hosts) == 0 {
		return "0 " + what
	}
	list := Compress(hosts)
	if len(list) > maxSummaryHosts {
		list = cutAtTopComma(list, maxSummaryHosts) + ",…"
	}
	return fmt.Sprintf("%d %s (%s)", len(hosts), what, list)
}

// cutAtTopComma shortens a compressed host list to at most n bytes at a
// comma outside brackets, so no bracket is left open.
func cutAtTopComma(list string, n int) string {
	cut, depth := 0, 0
	for i := 0; i < len(list) && i < n; i++ {
		switch list[i] {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				cut = i
			}
		}
	}
	if cut == 0 {
		return list[:n]
	}
	return list[:cut]
}
