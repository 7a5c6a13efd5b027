//go:build linux

package server

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/metrics"
	"github.com/rexec-dev/rexec/internal/protocol"
)

func readAudit(t *testing.T, path string) []audit.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := audit.Verify(f); err != nil {
		t.Fatalf("audit.Verify after %d records: %v", n, err)
	}
	f.Seek(0, 0)
	var recs []audit.Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return recs
}

// scrapeMetrics serves m on a loopback port and GETs /metrics once.
func scrapeMetrics(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	ms, err := m.Serve(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	resp, err := http.Get("http://" + ms.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d, %v", resp.StatusCode, err)
	}
	return string(b)
}

func TestAuditAndMetrics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	log, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	ts := startServer(t, Config{Audit: log, Metrics: m})
	c := ts.dial(t)
	r := c.mustRun(t, protocol.Exec{Argv: []string{"sh", "-c", "cat >/dev/null; echo out; echo err >&2; exit 3"}}, "in")
	if r.exit == nil || r.exit.Code != 3 {
		t.Fatalf("run = %v", r)
	}
	ts.withOptions(t, `allow="true"`)
	c2 := ts.dial(t)
	if d := c2.mustRun(t, protocol.Exec{Argv: []string{"id"}}, ""); d.err == nil {
		t.Fatalf("unlisted argv ran: %v", d)
	}
	recs := readAudit(t, path)
	if len(recs) != 4 {
		t.Fatalf("audit holds %d records, want 4 (start+end, denied start+end)", len(recs))
	}
	start, end := recs[0], recs[1]
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	if start.Event != "start" || end.Event != "end" || start.Session != end.Session || start.Session == "" {
		t.Errorf("start/end = %+v / %+v", start, end)
	}
	if end.Outcome != "exited" || end.ExitCode == nil || *end.ExitCode != 3 || end.BytesIn != 2 ||
		end.StdoutSHA != sum("out\n") || end.StderrSHA != sum("err\n") || end.Fingerprint == "" {
		t.Errorf("end record = %+v", end)
	}
	if recs[3].Outcome != "denied" || recs[3].DeniedRule != "allow=" {
		t.Errorf("denied record = %+v", recs[3])
	}

	body := scrapeMetrics(t, m)
	for _, want := range []string{`rexec_sessions_total{kind="exec",outcome="exited"} 1`,
		`rexec_sessions_total{kind="exec",outcome="denied"} 1`, `rexec_connections{state="authenticated"} 2`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// A refused key is audited too, naming the rule.
	if _, err := ts.connect(newIdentity(t, "stranger")); err == nil {
		t.Fatal("a stranger connected")
	}
	recs = readAudit(t, path)
	if last := recs[len(recs)-1]; last.Kind != "auth" || last.Outcome != "denied" || last.DeniedRule != "authorized_keys" {
		t.Errorf("refused key record = %+v", last)
	}

	// Fail closed: once the log cannot be written, sessions are refused.
	log.Close()
	ts.withOptions(t, "")
	c3 := ts.dial(t)
	if r := c3.mustRun(t, protocol.Exec{Command: "echo never"}, ""); r.err == nil || r.err.Code != protocol.CodeUnavailable {
		t.Errorf("session with a broken audit log = %v; want unavailable", r)
	}
}
