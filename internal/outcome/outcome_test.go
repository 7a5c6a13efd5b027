package outcome

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestWords pins the outcome words and exit statuses: they are a contract
// (docs/CLI.md §4 and §7, fan-out JSON output, scripts that test $?), so
// a renamed constant may not change its value, and every word must be
// the one docs/CLI.md §7 lists.
func TestWords(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "CLI.md"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		o    Outcome
		want string
	}{
		{Exited, "exited"}, {Signaled, "signaled"}, {TimedOut, "timed_out"},
		{ConnectFailed, "connect_failed"}, {AuthFailed, "auth_failed"},
		{HostKeyUnknown, "host_key_unknown"}, {HostKeyMismatch, "host_key_mismatch"},
		{ConnectionLost, "connection_lost"}, {ProtocolError, "protocol_error"},
		{Denied, "denied"}, {Skipped, "skipped"}, {Copied, "copied"}, {CopyFailed, "copy_failed"},
		{Interrupted, "interrupted"},
	}
	for _, tt := range tests {
		if string(tt.o) != tt.want {
			t.Errorf("outcome %q, want %q", tt.o, tt.want)
		}
		if !strings.Contains(string(doc), "`"+tt.want+"`") {
			t.Errorf("docs/CLI.md does not list the outcome `%s`", tt.want)
		}
	}
}

// TestExitStatuses pins the exit statuses of docs/CLI.md §4 and
// docs/PROTOCOL.md §4.4.
func TestExitStatuses(t *testing.T) {
	tests := []struct {
		name      string
		got, want int
	}{
		{"ExitError", ExitError, 1},
		{"ExitUsage", ExitUsage, 2},
		{"ExitTimedOut", ExitTimedOut, 124},
		{"ExitCannotStart", ExitCannotStart, 127},
		{"SignalStatus(9)", SignalStatus(9), 137},
		{"SignalStatus(15)", SignalStatus(15), 143},
		{"ExitFailure", ExitFailure, 255},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}
