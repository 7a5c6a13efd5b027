//go:build linux

package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// secretMark is in every secret value of TestAuditRecordsWhatRan, so the
// test can grep the file for any of them.
const secretMark = "s3cr3t"

func sha256Of(v string) string {
	sum := sha256.Sum256([]byte(v))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// TestAuditRecordsWhatRan: an exec through a real server records the
// environment it set (secret values hashed), its working directory, its
// terminal and the key's options; a file request records the options; no
// secret value is in the file in clear.
func TestAuditRecordsWhatRan(t *testing.T) {
	cwd := t.TempDir()
	tests := []struct {
		name   string
		redact []string
		opts   string
		req    protocol.Message
		stdout string // exec only
		want   audit.Record
	}{
		{"env and cwd, default redaction", nil, "",
			protocol.Exec{Argv: []string{"sh", "-c", `pwd; echo "$LANG_X $API_TOKEN"`}, Cwd: cwd,
				Env: map[string]string{"LANG_X": "plain", "API_TOKEN": "tok-" + secretMark, "DB_PASSWORD": "pw-" + secretMark}},
			cwd + "\nplain tok-" + secretMark + "\n",
			audit.Record{Kind: kindExec, Cwd: cwd, Env: []string{"API_TOKEN=" + sha256Of("tok-"+secretMark),
				"DB_PASSWORD=" + sha256Of("pw-"+secretMark), "LANG_X=plain"}}},
		{"terminal and key options with environment=", nil, `environment="DEPLOY_KEY=k-` + secretMark + `",from="127.0.0.1",no-file-transfer`,
			protocol.Exec{Command: "echo hi", PTY: true, Term: "xterm", Rows: 24, Cols: 80},
			"hi\r\n",
			audit.Record{Kind: kindExec, PTY: true, Command: "echo hi", Env: []string{"DEPLOY_KEY=" + sha256Of("k-"+secretMark)},
				Options: `no-file-transfer,from="127.0.0.1",environment="DEPLOY_KEY=` + sha256Of("k-"+secretMark) + `"`}},
		{"forced command", nil, `command="echo forced"`,
			protocol.Exec{Argv: []string{"id"}, Env: map[string]string{"LANG": "C"}},
			"forced\n",
			audit.Record{Kind: kindExec, Command: "echo forced", Options: `command="echo forced"`,
				Env: []string{"LANG=C", "REXEC_ORIGINAL_COMMAND=id"}}},
		{"configured redaction replaces the default", []string{"lang_*"}, "",
			protocol.Exec{Argv: []string{"true"}, Env: map[string]string{"LANG_X": "plain", "MY_TOKEN": "visible"}},
			"",
			audit.Record{Kind: kindExec, Env: []string{"LANG_X=" + sha256Of("plain"), "MY_TOKEN=visible"}}},
		{"file request", nil, `environment="A=1",allow="ls *",file-transfer`,
			protocol.Stat{Path: cwd}, "",
			audit.Record{Kind: protocol.TypeStat, Path: cwd, Options: `file-transfer,environment="A=1",allow="ls *"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			log, err := audit.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer log.Close()
			ts := startServer(t, Config{Audit: log, AuditRedact: tt.redact})
			ts.withOptions(t, tt.opts)
			c := ts.dial(t)
			switch req := tt.req.(type) {
			case protocol.Exec:
				r := c.mustRun(t, req, "")
				if r.exit == nil || r.exit.Code != 0 || r.stdout != tt.stdout {
					t.Fatalf("run = %v; want exit 0 and stdout %q", r, tt.stdout)
				}
			default:
				if err := c.send(req); err != nil {
					t.Fatal(err)
				}
				expectReply(t, c, protocol.TypeStatResult)
			}
			var start *audit.Record
			recs := readAudit(t, path) // verifies the chain
			for i := range recs {
				if recs[i].Event == audit.EventStart {
					start = &recs[i]
				}
			}
			if start == nil {
				t.Fatalf("no start record in %+v", recs)
			}
			w := tt.want
			if start.Kind != w.Kind || start.Cwd != w.Cwd || start.PTY != w.PTY || start.Options != w.Options ||
				start.Path != w.Path || start.Command != w.Command || !slices.Equal(start.Env, w.Env) {
				t.Errorf("start record\n%+v\nwant kind %q cwd %q pty %v options %q path %q command %q env %q",
					*start, w.Kind, w.Cwd, w.PTY, w.Options, w.Path, w.Command, w.Env)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(data, []byte(secretMark)) {
				t.Errorf("a secret value is in the audit log in clear:\n%s", data)
			}
			if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
				t.Errorf("audit log mode = %v, %v; want 0600", info.Mode(), err)
			}
			if strings.Count(string(data), "\n") != len(recs) {
				t.Errorf("log lines and records differ")
			}
		})
	}
}
