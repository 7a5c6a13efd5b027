package legacy

import (
	"strings"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/outcome"
)

// TestReplyCarriesExitStatus: the header's exit_code and signal, as our
// client reads them.
func TestReplyCarriesExitStatus(t *testing.T) {
	srv := startServer(t, &Server{CommandTimeout: time.Second})
	tests := []struct {
		cmd    string
		code   int
		signal string
	}{
		{"true", 0, ""},
		{"exit 3", 3, ""},
		{"echo out; exit 255", 255, ""},
		{"kill -KILL $$", 137, "KILL"},
		{"kill -TERM $$", 143, "TERM"},
		{"sleep 30", outcome.ExitTimedOut, ""},
		{"/nonexistent/program", 127, ""},
	}
	for _, tt := range tests {
		_, rep, err := runOurs(t, &Client{Addr: srv.addr}, tt.cmd)
		if err != nil || rep.Header.ExitCode == nil || *rep.Header.ExitCode != tt.code || tt.signal != "" && rep.Header.Signal != tt.signal {
			t.Errorf("%q: header %+v, %v; want exit_code %d signal %q", tt.cmd, rep.Header, err, tt.code, tt.signal)
		}
		if tt.signal == "" && tt.code != outcome.ExitTimedOut && rep.Header.Signal != "" {
			t.Errorf("%q: signal %q, want none", tt.cmd, rep.Header.Signal)
		}
	}
}

// TestSeedClientShowsExitCode: the lesson's client prints the exit status
// in its header dict and carries on as before.
func TestSeedClientShowsExitCode(t *testing.T) {
	srv := startServer(t, nil)
	tests := []struct{ cmd, code, signal, body string }{
		{"exit 3", "3", "", ""},
		{"echo hi", "0", "", "hi\n"},
		{"echo bye; kill -KILL $$", "137", "KILL", "bye\n"},
	}
	for _, tt := range tests {
		out, err := runPython(t, srv.port, "", "client_once.py", tt.cmd)
		if err != nil {
			t.Fatalf("client_once.py %q: %v", tt.cmd, err)
		}
		line, _, _ := strings.Cut(out, "\n")
		m := pyHeader.FindStringSubmatch(line)
		if m == nil || m[3] != tt.code || m[4] != tt.signal {
			t.Errorf("%q: header %q, want exit_code %s signal %q", tt.cmd, line, tt.code, tt.signal)
		}
		if _, body, _ := lessonReply(t, out); body != tt.body {
			t.Errorf("%q: body %q, want %q", tt.cmd, body, tt.body)
		}
	}
}

// TestSeedServerSendsNoExitCode: against the lesson's server.py our
// client sees no exit status, so `rexec legacy` keeps exiting 0.
func TestSeedServerSendsNoExitCode(t *testing.T) {
	addr, _ := startSeedServer(t)
	_, rep, err := runOurs(t, &Client{Addr: addr}, "exit 3")
	if err != nil || rep.Header.ExitCode != nil || rep.Header.Signal != "" {
		t.Errorf("Run(exit 3) against server.py = %+v, %v; want no exit status", rep.Header, err)
	}
}
