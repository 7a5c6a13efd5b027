package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rexec-dev/rexec/internal/audit"
)

// writeAuditLog writes n records (start and end pairs) through the audit
// package, as the daemon does, and returns the file's path.
func writeAuditLog(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		r := audit.Record{Event: audit.EventStart, Session: fmt.Sprint(i / 2), Kind: "exec",
			Argv: []string{"echo", fmt.Sprint(i)}, Remote: "127.0.0.1:5000"}
		if i%2 == 1 {
			r.Event, r.Outcome, r.ExitCode = audit.EventEnd, "exited", audit.Code(0)
		}
		if err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAuditVerify(t *testing.T) {
	home := t.TempDir()
	path := writeAuditLog(t, 6)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	// one byte of record 4 changed: its argv "3" becomes "4"
	tampered := bytes.Clone(data)
	off := len(bytes.Join(lines[:3], nil)) + bytes.Index(lines[3], []byte(`"3"`)) + 1
	tampered[off] = '4'
	write := func(name string, b []byte) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name       string
		args       []string
		stdin      []byte
		code       int
		stdout     string
		stderrPart string
	}{
		{"intact", []string{path}, nil, 0, "ok: 6 records, chain intact\n", ""},
		{"empty", []string{write("empty.log", nil)}, nil, 0, "ok: 0 records, chain intact\n", ""},
		{"stdin", []string{"-"}, data, 0, "ok: 6 records, chain intact\n", ""},
		{"one byte changed", []string{write("t.log", tampered)}, nil, 1, "",
			"rexec: audit: record 4 (line 4): content does not match its hash"},
		{"record deleted", []string{write("d.log", bytes.Join(append(lines[:2:2], lines[3:]...), nil))}, nil, 1, "",
			"rexec: audit: record 4 (line 3): seq 4 where 3 was due"},
		{"cut mid-record", []string{write("c.log", data[:len(data)-30])}, nil, 1, "",
			"rexec: audit: record 6 (line 6): incomplete record"},
		{"missing file", []string{filepath.Join(home, "nope.log")}, nil, 2, "", "rexec: audit: open "},
		{"no file given", nil, nil, 2, "", "accepts 1 arg"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := rexec(t, home, bytes.NewReader(c.stdin), append([]string{"audit", "verify"}, c.args...)...)
			if res.code != c.code || res.stdout != c.stdout || !strings.Contains(res.stderr, c.stderrPart) {
				t.Errorf("rexec audit verify %v = %d, stdout %q, stderr %q; want %d, %q, stderr with %q",
					c.args, res.code, res.stdout, res.stderr, c.code, c.stdout, c.stderrPart)
			}
			if c.code != 0 && strings.Count(res.stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", res.stderr)
			}
		})
	}
}
