package fanout

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/outcome"
)

// runPrinter drives a Printer as Run does, one host at a time.
func runPrinter(p Printer, hosts []Result, out [][2]string) error {
	for i, r := range hosts {
		if r.Outcome != outcome.Skipped {
			so, se := p.Begin(r.Index, r.Host)
			io.WriteString(so, out[i][0])
			io.WriteString(se, out[i][1])
		}
		p.End(r)
	}
	return p.Flush()
}

func TestJSONRecord(t *testing.T) {
	var buf bytes.Buffer
	p := NewJSONPrinter(&buf)
	results := []Result{
		{Index: 0, Host: "a", Outcome: outcome.Exited, Duration: 1500 * time.Millisecond},
		{Index: 1, Host: "b", Outcome: outcome.Signaled, ExitCode: 137, Signal: "KILL"},
		{Index: 2, Host: "c", Outcome: outcome.ConnectFailed, Err: errors.New("refused")},
		{Index: 3, Host: "d", Outcome: outcome.Skipped, Err: ErrFailFast},
	}
	out := [][2]string{{"héllo <&>\n", ""}, {"\xff\xfe", "err\n"}, {"", ""}, {}}
	if err := runPrinter(p, results, out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("json printed %d lines, want 4:\n%s", len(lines), buf.String())
	}
	want := []string{
		`{"host":"a","outcome":"exited","exit_code":0,"signal":null,"stdout":"héllo <&>\n","stderr":"","duration_ms":1500,"error":null}`,
		`{"host":"b","outcome":"signaled","exit_code":137,"signal":"KILL","stdout_b64":"//4=","stderr":"err\n","duration_ms":0,"error":null}`,
		`{"host":"c","outcome":"connect_failed","exit_code":null,"signal":null,"stdout":"","stderr":"","duration_ms":0,"error":"refused"}`,
		`{"host":"d","outcome":"skipped","exit_code":null,"signal":null,"stdout":"","stderr":"","duration_ms":0,"error":"fanout: not started: a host failed and --fail-fast is set"}`,
	}
	for i, l := range lines {
		if l != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, l, want[i])
		}
	}
	var rec struct {
		StdoutB64 string `json:"stdout_b64"`
	}
	json.Unmarshal([]byte(lines[1]), &rec)
	if b, _ := base64.StdEncoding.DecodeString(rec.StdoutB64); string(b) != "\xff\xfe" {
		t.Errorf("stdout_b64 decodes to %q, want the raw bytes", b)
	}
}

func TestCappedBuffer(t *testing.T) {
	var c cappedBuffer
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	for range 17 {
		if n, err := c.Write(chunk); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v; want the whole chunk accepted", n, err)
		}
	}
	if len(c.buf) != MaxBufferedOutput || !c.truncated {
		t.Errorf("after 17 MiB: kept %d bytes, truncated %v; want %d and true", len(c.buf), c.truncated, MaxBufferedOutput)
	}
	rec := NewRecord(Result{Host: "h", Outcome: outcome.Exited}, c.buf, nil, c.truncated)
	if !rec.Truncated || rec.Error == nil || *rec.Error != truncatedNote {
		t.Errorf("record of truncated output: truncated %v error %v; want true and %q", rec.Truncated, rec.Error, truncatedNote)
	}
}

func TestGroupPrinter(t *testing.T) {
	var stdout, stderr bytes.Buffer
	p := NewGroupPrinter(&stdout, &stderr)
	results := []Result{
		{Index: 0, Host: "web01", Outcome: outcome.Exited},
		{Index: 1, Host: "web02", Outcome: outcome.Exited},
		{Index: 2, Host: "web03", Outcome: outcome.Exited, ExitCode: 1},
		{Index: 3, Host: "web07", Outcome: outcome.Exited},
		{Index: 4, Host: "web08", Outcome: outcome.ConnectFailed, Err: errors.New("refused")},
		{Index: 5, Host: "db1", Outcome: outcome.Exited},
	}
	out := [][2]string{{"same\n", ""}, {"same\n", ""}, {"other", "oops\n"}, {"same\n", ""}, {"", ""}, {"", ""}}
	if err := runPrinter(p, results, out); err != nil {
		t.Fatal(err)
	}
	wantOut := "----------------\nweb[01-02,07]\n----------------\nsame\n" +
		"----------------\nweb03\n----------------\nother\n"
	wantErr := "----------------\nweb03\n----------------\noops\n" +
		"rexec: web03: exit status 1\nrexec: web08: connect_failed: refused\n"
	if stdout.String() != wantOut || stderr.String() != wantErr {
		t.Errorf("group output:\n%s\nstderr:\n%s\nwant:\n%s\nstderr:\n%s", stdout.String(), stderr.String(), wantOut, wantErr)
	}
}

func TestPrefixPrinter(t *testing.T) {
	var stdout, stderr bytes.Buffer
	p := NewPrefixPrinter(&stdout, &stderr)
	results := []Result{
		{Index: 0, Host: "a", Outcome: outcome.Exited},
		{Index: 1, Host: "b", Outcome: outcome.TimedOut, ExitCode: 124},
		{Index: 2, Host: "c", Outcome: outcome.Skipped, Err: ErrTooManyFailures},
	}
	out := [][2]string{{"1\n2", "e\n"}, {"x\n", ""}, {}}
	if err := runPrinter(p, results, out); err != nil {
		t.Fatal(err)
	}
	wantOut := "a: 1\na: 2\nb: x\n"
	wantErr := "a: e\nrexec: b: timed_out: killed by --timeout (exit status 124)\n" +
		"rexec: c: skipped: fanout: not started: more hosts failed than --max-failures allows\n"
	if stdout.String() != wantOut || stderr.String() != wantErr {
		t.Errorf("prefix output %q, stderr %q; want %q, %q", stdout.String(), stderr.String(), wantOut, wantErr)
	}
}

func TestNewPrinter(t *testing.T) {
	for _, m := range []string{"", ModePrefix, ModeGroup, ModeJSON} {
		if _, err := NewPrinter(m, io.Discard, io.Discard); err != nil {
			t.Errorf("NewPrinter(%q) = %v", m, err)
		}
	}
	if _, err := NewPrinter("yaml", io.Discard, io.Discard); !errors.Is(err, ErrBadMode) {
		t.Errorf("NewPrinter(yaml) = %v, want ErrBadMode", err)
	}
}

// TestJSONRecordCopy: a copy's record carries its counts; a command's
// record has none of those fields.
func TestJSONRecordCopy(t *testing.T) {
	var buf bytes.Buffer
	p := NewJSONPrinter(&buf)
	results := []Result{
		{Index: 0, Host: "a", Outcome: outcome.Copied, Copy: &client.CopySummary{Entries: 4, Bytes: 1024}},
		{Index: 1, Host: "b", Outcome: outcome.CopyFailed, ExitCode: 1, Copy: &client.CopySummary{Entries: 1, Failed: 1},
			Err: errors.New("b:/ro/f: permission denied")},
	}
	if err := runPrinter(p, results, [][2]string{{}, {"", "b:/ro/f: permission denied\n"}}); err != nil {
		t.Fatal(err)
	}
	want := `{"host":"a","outcome":"copied","exit_code":0,"signal":null,"stdout":"","stderr":"","duration_ms":0,"error":null,"entries":4,"failed_entries":0,"bytes":1024}
{"host":"b","outcome":"copy_failed","exit_code":1,"signal":null,"stdout":"","stderr":"b:/ro/f: permission denied\n","duration_ms":0,"error":"b:/ro/f: permission denied","entries":1,"failed_entries":1,"bytes":0}
`
	if buf.String() != want {
		t.Errorf("json of copies:\n%s\nwant:\n%s", buf.String(), want)
	}
}
