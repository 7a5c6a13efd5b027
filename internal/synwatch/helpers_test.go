package synwatch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/metrics"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// logRecord is one captured log line.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (r logRecord) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q", r.level, r.msg)
	for k, v := range r.attrs {
		fmt.Fprintf(&b, " %s=%s", k, v)
	}
	return b.String()
}

// logCapture is a slog.Handler that keeps every record for the test.
type logCapture struct {
	mu      sync.Mutex
	records []logRecord
}

func newLogCapture() *logCapture { return &logCapture{} }

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCapture) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *logCapture) WithGroup(string) slog.Handler            { return c }

func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	c.mu.Lock()
	c.records = append(c.records, rec)
	c.mu.Unlock()
	return nil
}

// find returns the records with message msg.
func (c *logCapture) find(msg string) []logRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []logRecord
	for _, r := range c.records {
		if r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// wait polls for a record with message msg for up to within (0: look once).
func (c *logCapture) wait(msg string, within time.Duration) (logRecord, bool) {
	deadline := time.Now().Add(within)
	for {
		if rs := c.find(msg); len(rs) > 0 {
			return rs[0], true
		}
		if time.Now().After(deadline) {
			return logRecord{}, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *logCapture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, r := range c.records {
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}

// servedMetrics is a *metrics.Metrics served on a loopback port until the
// test ends, so that tests read the watch's series as a scraper does.
type servedMetrics struct {
	*metrics.Metrics
	url string
}

func serveMetrics(t *testing.T) *servedMetrics {
	t.Helper()
	m := metrics.New()
	s, err := m.Serve(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing the metrics server: %v", err)
		}
	})
	return &servedMetrics{Metrics: m, url: "http://" + s.Addr().String() + "/metrics"}
}

// value scrapes /metrics and returns the value of the series named
// exactly series (name plus labels), or "" if it is absent.
func (s *servedMetrics) value(t *testing.T, series string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(s.url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d, %v", resp.StatusCode, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}
