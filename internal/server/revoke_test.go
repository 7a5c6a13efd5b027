//go:build linux

package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
)

// revokeWait is the bound of the issue: the next request after a
// revocation is refused within this time.
const revokeWait = time.Second

// expectRevoked runs req on c and expects the fatal error "revoked"
// (naming want), within revokeWait, and then the connection closed.
func expectRevoked(t *testing.T, c *testClient, req protocol.Exec, want string) {
	t.Helper()
	start := time.Now()
	// The server may have closed the connection already (a reload ends a
	// removed key's connections, after the error frame): the send may
	// fail, but the refusal is there to read.
	_ = c.send(req)
	_ = c.send(protocol.StdinEOF{})
	r, _ := c.collect()
	if r.err == nil || r.err.Code != protocol.CodeRevoked || !strings.Contains(r.err.Message, want) {
		t.Fatalf("request after revocation: %v; want error revoked naming %q", r, want)
	}
	if d := time.Since(start); d > revokeWait {
		t.Errorf("refusal took %v, want under %v", d, revokeWait)
	}
	if _, err := c.recv(); err == nil {
		t.Error("the connection stayed open after revoked")
	}
}

// TestRevocation: on one open connection a command runs; then the key is
// removed (with a reload, as SIGHUP does, and separately by an edit
// alone), its options change, or the file turns unsafe: the next request
// on that connection is refused.
func TestRevocation(t *testing.T) {
	other := newIdentity(t, "other")
	echo := protocol.Exec{Argv: []string{"echo", "ok"}}
	tests := []struct {
		name   string
		change func(t *testing.T, ts *testServer)
		want   string
	}{
		{"key removed and reload", func(t *testing.T, ts *testServer) {
			writeKeys(t, ts.keysPath, auth.AuthorizedLine(other.Public, "other"))
			if err := ts.Reload(); err != nil {
				t.Fatal(err)
			}
		}, "no longer authorized"},
		{"key removed, no signal", func(t *testing.T, ts *testServer) {
			writeKeys(t, ts.keysPath, auth.AuthorizedLine(other.Public, "other"))
		}, "no longer authorized"},
		{"options changed", func(t *testing.T, ts *testServer) {
			ts.withOptions(t, `command="true"`)
		}, "line of key"},
		{"file made group-writable", func(t *testing.T, ts *testServer) {
			must(t, os.Chmod(ts.keysPath, 0o664))
		}, "unsafe or unreadable"},
		{"directory made writable by others", func(t *testing.T, ts *testServer) {
			must(t, os.Chmod(filepath.Dir(ts.keysPath), 0o777))
		}, "unsafe or unreadable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, Config{})
			c := ts.dial(t)
			if r := c.mustRun(t, echo, ""); r.stdout != "ok\n" {
				t.Fatalf("before: %v", r)
			}
			tt.change(t, ts)
			expectRevoked(t, c, echo, tt.want)
			if tt.name == "options changed" { // a new connection gets the new line
				if r := ts.dial(t).mustRun(t, echo, ""); r.exit == nil || r.stdout != "" {
					t.Errorf("reconnected under command=\"true\": %v", r)
				}
			}
		})
	}
}

// TestUnsafeFileFailsClosed: a file that turns group-writable authorizes
// nothing, also for new connections, until it is fixed, and then works
// again without a signal.
func TestUnsafeFileFailsClosed(t *testing.T) {
	ts := startServer(t, Config{})
	must(t, os.Chmod(ts.keysPath, 0o664))
	if err := ts.Reload(); err == nil {
		t.Error("Reload of a 0664 authorized_keys succeeded")
	}
	if _, err := ts.connect(ts.client); err == nil {
		t.Fatal("a key in a 0664 authorized_keys was authorized")
	}
	must(t, os.Chmod(ts.keysPath, 0o600))
	if r := ts.dial(t).mustRun(t, protocol.Exec{Argv: []string{"echo", "back"}}, ""); r.stdout != "back\n" {
		t.Fatalf("after chmod 600: %v", r)
	}
}

// TestRevokedKeyLosesRunningSession: removing a key, with no signal, ends
// its connections within a watcher interval (plus a margin for a loaded
// machine): the running session is killed and another key's is not.
func TestRevokedKeyLosesRunningSession(t *testing.T) {
	ts := startServer(t, Config{})
	other := newIdentity(t, "other")
	writeKeys(t, ts.keysPath, auth.AuthorizedLine(ts.client.Public, "client"), auth.AuthorizedLine(other.Public, "other"))
	sleep := protocol.Exec{Command: "echo $$; exec sleep 60"}
	victim := ts.dial(t)
	must(t, victim.send(sleep))
	pids := victim.readPIDs(t, 1)
	survivor, err := ts.connect(other)
	must(t, err)
	defer survivor.close()
	must(t, survivor.send(sleep))
	kept := survivor.readPIDs(t, 1)

	writeKeys(t, ts.keysPath, auth.AuthorizedLine(other.Public, "other"))
	rexectest.CheckGone(t, keysWatchInterval+killWait, pids...)
	if r, err := victim.collect(); err == nil && (r.err == nil || r.err.Code != protocol.CodeRevoked) {
		t.Errorf("the revoked key's connection got %v, want the error revoked", r)
	}
	if _, err := victim.recv(); err == nil {
		t.Error("the revoked key's connection is still open")
	}
	if !rexectest.Alive(kept[0]) {
		t.Error("the other key's session was killed too")
	}
}

// writeKeys replaces authorized_keys with lines, atomically, mode 0600.
func writeKeys(t *testing.T, path string, lines ...string) {
	t.Helper()
	tmp := path + ".new"
	must(t, os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	must(t, os.Rename(tmp, path))
}
