package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/auth"
)

// auditRecords decodes the lines of an audit log.
func auditRecords(t *testing.T, data []byte) []audit.Record {
	t.Helper()
	var recs []audit.Record
	for _, line := range bytes.SplitAfter(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		var r audit.Record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return recs
}

// reappend writes the first keep lines of data to a new file and appends
// recs through audit.Open, which re-chains them (seq, prev and hash are
// recomputed; time and a checkpoint's signature are kept): what someone
// who can write the file but holds no key can make.
func reappend(t *testing.T, data []byte, keep int, recs []audit.Record) string {
	t.Helper()
	lines := bytes.SplitAfter(data, []byte("\n"))
	path := filepath.Join(t.TempDir(), "rewritten.log")
	if err := os.WriteFile(path, bytes.Join(lines[:keep], nil), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func forged(n int) []audit.Record {
	recs := make([]audit.Record, n)
	for i := range recs {
		recs[i] = audit.Record{Event: audit.EventStart, Kind: "exec", Argv: []string{"forged"}}
	}
	return recs
}

type auditCase struct {
	name       string
	args       []string
	code       int
	stdout     string // exact when code is 0
	stderrPart string
}

func runAuditCases(t *testing.T, home string, cases []auditCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := rexec(t, home, nil, append([]string{"audit"}, c.args...)...)
			if res.code != c.code || c.code == 0 && res.stdout != c.stdout || !strings.Contains(res.stderr, c.stderrPart) {
				t.Errorf("rexec audit %q = %d, stdout %q, stderr %q; want %d, %q, stderr with %q",
					c.args, res.code, res.stdout, res.stderr, c.code, c.stdout, c.stderrPart)
			}
			if c.code != 0 && (strings.Count(res.stderr, "\n") != 1 || res.stdout != "") {
				t.Errorf("failure is not one line on stderr alone: stdout %q, stderr %q", res.stdout, res.stderr)
			}
		})
	}
}

// TestAuditHeadVerify: the head `rexec audit head` prints before the log
// was cut, shortened or rewritten and re-chained makes `verify --head`
// fail; the untouched log passes, also grown by honest records.
func TestAuditHeadVerify(t *testing.T) {
	home := t.TempDir()
	path := writeAuditLog(t, 6)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res := rexec(t, home, nil, "audit", "head", path)
	if res.code != 0 || !strings.HasPrefix(res.stdout, "6:") || len(res.stdout) != len("6:")+64+1 {
		t.Fatalf("rexec audit head = %d %q %q; want 6:HASH", res.code, res.stdout, res.stderr)
	}
	head := strings.TrimSpace(res.stdout)
	lines := bytes.SplitAfter(data, []byte("\n"))
	write := func(name string, b []byte) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	grown := reappend(t, data, 6, forged(2))
	okHead := "ok: 6 records, chain intact; head 6 present\n"
	runAuditCases(t, home, []auditCase{
		{"untouched", []string{"verify", "--head", head, path}, 0, okHead, ""},
		{"grown after the head", []string{"verify", "--head", head, grown}, 0, "ok: 8 records, chain intact; head 6 present\n", ""},
		{"cut mid-file", []string{"verify", "--head", head, write("c.log", data[:len(lines[0])+len(lines[1])+25])}, 1, "",
			"rexec: audit: record 3 (line 3): incomplete record"},
		{"cut at a record boundary", []string{"verify", "--head", head, write("b.log", bytes.Join(lines[:4], nil))}, 1, "",
			"rexec: audit: record 6 (line 5): missing: the log ends at record 4"},
		{"last record deleted", []string{"verify", "--head", head, write("d.log", bytes.Join(lines[:5], nil))}, 1, "",
			"missing: the log ends at record 5"},
		{"tail deleted and re-chained, same count", []string{"verify", "--head", head, reappend(t, data, 3, forged(3))}, 1, "",
			"rexec: audit: record 6 (line 6): hash "},
		{"tail deleted and re-chained, more records", []string{"verify", "--head", head, reappend(t, data, 3, forged(7))}, 1, "",
			"is not the head's"},
		{"head of a broken log", []string{"head", write("x.log", data[:len(data)-3])}, 1, "", "incomplete record"},
		{"head of an empty log", []string{"head", write("e.log", nil)}, 0, "0:" + audit.Genesis + "\n", ""},
		{"head of a missing file", []string{"head", filepath.Join(home, "nope")}, 2, "", "rexec: audit: open "},
		{"head without a file", []string{"head"}, 2, "", "accepts 1 arg"},
		{"malformed head", []string{"verify", "--head", "6", path}, 2, "", "rexec: audit: head \"6\": want SEQ:HASH"},
		{"head with a short hash", []string{"verify", "--head", "6:abc", path}, 2, "", "HASH must be 64 hex digits"},
		{"head with a negative seq", []string{"verify", "--head", "-6:" + audit.Genesis, path}, 2, "", "SEQ must be"},
	})
	// Without the head, those cut at a boundary and re-chained verify:
	// the head is what catches them.
	if r := rexec(t, home, nil, "audit", "verify", reappend(t, data, 3, forged(3))); r.code != 0 {
		t.Errorf("plain verify of a re-chained log = %d %q; the cases above test nothing", r.code, r.stderr)
	}
}

// TestAuditVerifyKey: checkpoints signed by a key verify with its .pub;
// a log re-chained through a checkpoint, or checked with another key,
// fails; a bad key file is exit 2.
func TestAuditVerifyKey(t *testing.T) {
	home := t.TempDir()
	dir := t.TempDir()
	host, err := auth.GenerateIdentity("host")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := auth.GenerateIdentity("other")
	hostKey, otherKey := filepath.Join(dir, "host_ed25519_key"), filepath.Join(dir, "other")
	if err := host.WriteFiles(hostKey); err != nil {
		t.Fatal(err)
	}
	if err := other.WriteFiles(otherKey); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "audit.log")
	l, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 7 { // records 1-2, checkpoint 3, 4-5, checkpoint 6, 7-9
		if err := l.Append(forged(1)[0]); err != nil {
			t.Fatal(err)
		}
		if i == 1 || i == 3 {
			if ok, err := l.Checkpoint(host.Private); !ok || err != nil {
				t.Fatalf("Checkpoint = %v, %v", ok, err)
			}
		}
	}
	l.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := auditRecords(t, data)
	recs[3].Argv = []string{"rewritten"} // record 4, before checkpoint 6
	through := reappend(t, data, 3, recs[3:])
	garbage := filepath.Join(dir, "garbage.pub")
	os.WriteFile(garbage, []byte("not a key\n"), 0o600)
	runAuditCases(t, home, []auditCase{
		{"intact", []string{"verify", "--key", hostKey + ".pub", path}, 0,
			"ok: 9 records, chain intact; 2 checkpoints signed by the key, the last at record 6 (3 records after it)\n", ""},
		{"re-chained through a checkpoint", []string{"verify", "--key", hostKey + ".pub", through}, 1, "",
			"rexec: audit: record 6 (line 6): checkpoint signature does not verify"},
		{"another key", []string{"verify", "--key", otherKey + ".pub", path}, 1, "", "record 3 (line 3): checkpoint signature"},
		{"tail re-chained after the last checkpoint", []string{"verify", "--key", hostKey + ".pub", reappend(t, data, 7, forged(4))}, 0,
			"ok: 11 records, chain intact; 2 checkpoints signed by the key, the last at record 6 (5 records after it)\n", ""},
		{"no checkpoints", []string{"verify", "--key", hostKey + ".pub", writeAuditLog(t, 2)}, 0,
			"ok: 2 records, chain intact; no signed checkpoint\n", ""},
		{"key file is not a key", []string{"verify", "--key", garbage, path}, 2, "", "rexec: --key " + garbage},
		{"key file missing", []string{"verify", "--key", filepath.Join(dir, "nope.pub"), path}, 2, "", "--key: open "},
	})
	if r := rexec(t, home, nil, "audit", "verify", through); r.code != 0 {
		t.Errorf("plain verify of the re-chained log = %d %q; the case above tests nothing", r.code, r.stderr)
	}
}

// TestDaemonAuditHead: a real daemon logs the audit log's head at start
// and at shutdown (the last one is the file's head), signs checkpoints
// with its host key, records a command's env (redacted per
// --audit-redact), cwd and options, and `verify --head --key` passes.
func TestDaemonAuditHead(t *testing.T) {
	home := t.TempDir()
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	d := startDaemon(t, home, "--audit-log", auditPath, "--audit-checkpoint", "1s",
		"--audit-redact", "*TOKEN*", "--audit-redact", "lang_*")
	cwd := t.TempDir()
	if r := rexec(t, home, nil, "run", "-e", "API_TOKEN=tok-s3cr3t", "-e", "LANG_X=plain-s3cr3t", "-e", "OTHER=visible",
		"-C", cwd, d.host(), "pwd"); r.code != 0 || r.stdout != cwd+"\n" {
		t.Fatalf("run = %d %q %q", r.code, r.stdout, r.stderr)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(auditPath); bytes.Contains(b, []byte(`"event":"checkpoint"`)) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.Stop(t)

	var heads []string
	for _, line := range strings.Split(d.Logs(), "\n") {
		var entry struct{ Msg, Head string }
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "audit head" {
			heads = append(heads, entry.Head)
		}
	}
	fileHead := rexec(t, home, nil, "audit", "head", auditPath)
	if len(heads) < 2 || heads[0] != "0:"+audit.Genesis || heads[len(heads)-1]+"\n" != fileHead.stdout {
		t.Fatalf("logged heads %q; want the empty log's at start and the file's %q at shutdown\n%s", heads, fileHead.stdout, d.Logs())
	}
	r := rexec(t, home, nil, "audit", "verify", "--head", heads[len(heads)-1], "--key", filepath.Join(home, "host_ed25519_key.pub"), auditPath)
	if r.code != 0 || !strings.Contains(r.stdout, "head ") || !strings.Contains(r.stdout, "signed by the key, the last at record") {
		t.Fatalf("verify --head --key = %d %q %q", r.code, r.stdout, r.stderr)
	}
	data, _ := os.ReadFile(auditPath)
	if bytes.Contains(data, []byte("s3cr3t")) {
		t.Errorf("a redacted value is in the log in clear:\n%s", data)
	}
	var start *audit.Record
	for _, rec := range auditRecords(t, data) {
		if rec.Event == audit.EventStart {
			start = &rec
		}
	}
	if start == nil || start.Cwd != cwd || len(start.Env) != 3 || start.Env[2] != "OTHER=visible" ||
		!strings.HasPrefix(start.Env[0], "API_TOKEN=sha256:") || !strings.HasPrefix(start.Env[1], "LANG_X=sha256:") {
		t.Errorf("start record = %+v; want cwd %s and env with API_TOKEN and LANG_X hashed", start, cwd)
	}
}
