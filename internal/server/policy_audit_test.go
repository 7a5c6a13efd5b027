//go:build linux

package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// TestPolicyAudited is the "each enforced and audited" for every
// authorized_keys rule, on real sockets: the request is refused (or, for a
// forced command, replaced) and the audit log, whose chain verifies, holds
// the records naming the rule.
func TestPolicyAudited(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		opts string
		// do makes the request and checks the client's side of the refusal.
		do func(t *testing.T, ts *testServer)
		// want is the last record; for a session its start record, with
		// the same session id, precedes it.
		want    audit.Record
		session bool
	}{
		{"forced command", `command="echo forced"`, func(t *testing.T, ts *testServer) {
			r := ts.dial(t).mustRun(t, protocol.Exec{Argv: []string{"id"}}, "")
			if r.exit == nil || r.stdout != "forced\n" {
				t.Fatalf("forced command ran as %v", r)
			}
		}, audit.Record{Kind: kindExec, Command: "echo forced", Outcome: "exited"}, true},
		{"from=", `from="10.9.8.0/24"`, func(t *testing.T, ts *testServer) {
			if _, err := ts.connect(ts.client); err == nil {
				t.Fatal("a key limited to 10.9.8.0/24 connected from 127.0.0.1")
			}
		}, audit.Record{Kind: kindAuth, Outcome: "denied", DeniedRule: "from="}, false},
		{"no-pty", `no-pty`, func(t *testing.T, ts *testServer) {
			expectDenied(t, ts, protocol.Exec{Command: "tty", PTY: true}, "no-pty")
		}, audit.Record{Kind: kindExec, Command: "tty", Outcome: "denied", DeniedRule: "no-pty"}, true},
		{"allow=", `allow="echo *"`, func(t *testing.T, ts *testServer) {
			expectDenied(t, ts, protocol.Exec{Argv: []string{"id"}}, "allow=")
		}, audit.Record{Kind: kindExec, Outcome: "denied", DeniedRule: "allow="}, true},
		{"no-file-transfer stat", `no-file-transfer`, func(t *testing.T, ts *testServer) {
			expectDenied(t, ts, protocol.Stat{Path: dir}, "no-file-transfer")
		}, audit.Record{Kind: protocol.TypeStat, Path: dir, Outcome: "denied", DeniedRule: "no-file-transfer"}, true},
		{"no-file-transfer get", `no-file-transfer`, func(t *testing.T, ts *testServer) {
			expectDenied(t, ts, protocol.Get{Path: dir, Recursive: true}, "no-file-transfer")
		}, audit.Record{Kind: protocol.TypeGet, Path: dir, Outcome: "denied", DeniedRule: "no-file-transfer"}, true},
		{"no-file-transfer put", `restrict`, func(t *testing.T, ts *testServer) {
			expectDenied(t, ts, protocol.Put{Path: dir, Name: "made", Kind: protocol.KindDir, Mode: 0o755}, "no-file-transfer")
			if _, err := os.Stat(filepath.Join(dir, "made")); err == nil {
				t.Error("a denied put created its directory")
			}
		}, audit.Record{Kind: protocol.TypePut, Path: dir + "/made", Outcome: "denied", DeniedRule: "no-file-transfer"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			log, err := audit.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer log.Close()
			ts := startServer(t, Config{Audit: log})
			ts.withOptions(t, tt.opts)
			tt.do(t, ts)
			recs := readAudit(t, path) // verifies the chain
			if len(recs) == 0 {
				t.Fatal("nothing audited")
			}
			end := recs[len(recs)-1]
			got := audit.Record{Kind: end.Kind, Command: end.Command, Path: end.Path, Outcome: end.Outcome, DeniedRule: end.DeniedRule}
			if end.Event != audit.EventEnd || got.Kind != tt.want.Kind || got.Command != tt.want.Command ||
				got.Path != tt.want.Path || got.Outcome != tt.want.Outcome || got.DeniedRule != tt.want.DeniedRule {
				t.Errorf("last audit record = %+v, want end record %+v", end, tt.want)
			}
			if end.Fingerprint == "" || end.Remote == "" {
				t.Errorf("last audit record %+v lacks the key or the address", end)
			}
			if !tt.session {
				return
			}
			if len(recs) < 2 || recs[len(recs)-2].Event != audit.EventStart || recs[len(recs)-2].Session != end.Session {
				t.Errorf("records %+v: want a start record of session %s before its end", recs, end.Session)
			}
		})
	}
}

// expectDenied sends req on a new connection and expects an error frame
// "denied" naming rule (TestKeyPolicy checks that the connection stays
// usable).
func expectDenied(t *testing.T, ts *testServer, req protocol.Message, rule string) {
	t.Helper()
	c := ts.dial(t)
	if err := c.send(req); err != nil {
		t.Fatal(err)
	}
	if _, ok := req.(protocol.Exec); ok {
		if err := c.send(protocol.StdinEOF{}); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 { // bounded: a refusal is one or two frames
		m, err := c.recv()
		if err != nil {
			t.Fatalf("%s: waiting for the refusal: %v", req.Type(), err)
		}
		e, ok := m.(protocol.Error)
		if !ok {
			continue
		}
		if e.Code != protocol.CodeDenied || !strings.Contains(e.Message, rule) {
			t.Fatalf("%s: error %+v, want denied naming %q", req.Type(), e, rule)
		}
		if _, ok := req.(protocol.Get); ok { // a get's answer ends with get_end
			if m, err := c.recv(); err != nil || m.Type() != protocol.TypeGetEnd {
				t.Fatalf("get: after the refusal %v, %v; want get_end", m, err)
			}
		}
		return
	}
	t.Fatalf("%s: no refusal among 10 frames", req.Type())
}
