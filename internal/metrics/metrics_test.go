package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// scrape renders m's exposition and returns the value of the series
// named exactly series (name plus labels, e.g. `rexec_bytes_total{direction="in"}`),
// or "" if it is absent.
func scrape(t *testing.T, m *Metrics, series string) string {
	t.Helper()
	for _, line := range strings.Split(scrapeAll(t, m), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// scrapeAll renders m's exposition; the tests of the responder serve it
// over real sockets.
func scrapeAll(t *testing.T, m *Metrics) string {
	t.Helper()
	b, err := m.render(context.Background())
	if err != nil {
		t.Fatalf("render = %v", err)
	}
	return string(b)
}

// TestFamilies: every family the issue names is served, and the update
// methods move the right series.
func TestFamilies(t *testing.T) {
	m := New()
	m.ConnOpened(StatePreauth)
	m.ConnOpened(StatePreauth)
	m.ConnOpened(StatePreauth)
	m.ConnState(StatePreauth, StateAuthenticated)
	m.ConnClosed(StatePreauth)
	m.SessionEnded("exec", "exited")
	m.SessionEnded("exec", "exited")
	m.SessionEnded("put", "denied")
	m.Bytes(DirIn, 100)
	m.Bytes(DirOut, 1<<20)
	m.Bytes(DirOut, -5)
	m.AuthFailed()
	m.Dropped("max_startups")
	m.SetPenalised(3)
	m.SetSYN(SYN{HalfOpen: 70, Sources: 12, Alarm: true, Onset: true,
		Rise: map[string]int64{"SyncookiesSent": 9, "ListenOverflows": 0, "ListenDrops": 0, "TCPReqQFullDoCookies": 0}})
	want := map[string]string{
		`rexec_connections{state="preauth"}`:                 "1",
		`rexec_connections{state="authenticated"}`:           "1",
		`rexec_sessions_total{kind="exec",outcome="exited"}`: "2",
		`rexec_sessions_total{kind="put",outcome="denied"}`:  "1",
		`rexec_bytes_total{direction="in"}`:                  "100",
		`rexec_bytes_total{direction="out"}`:                 "1.048576e+06",
		`rexec_auth_failures_total`:                          "1",
		`rexec_drops_total{reason="max_startups"}`:           "1",
		`rexec_penalised_sources`:                            "3",
		`rexec_syn_recv`:                                     "70",
		`rexec_syn_recv_sources`:                             "12",
		`rexec_tcpext_rise{counter="SyncookiesSent"}`:        "9",
		`rexec_tcpext_rise{counter="ListenOverflows"}`:       "0",
		`rexec_tcpext_rise{counter="ListenDrops"}`:           "0",
		`rexec_tcpext_rise{counter="TCPReqQFullDoCookies"}`:  "0",
		`rexec_syn_flood_alarm`:                              "1",
		`rexec_syn_flood_alarms_total`:                       "1",
		`go_goroutines`:                                      "",
		`process_resident_memory_bytes`:                      "",
	}
	for series, v := range want {
		got := scrape(t, m, series)
		if v == "" && got == "" && !strings.Contains(scrapeAll(t, m), series+" ") {
			t.Errorf("%s missing", series)
		} else if v != "" && got != v {
			t.Errorf("%s = %q, want %q", series, got, v)
		}
	}
}

// TestFreshFamilies: the fixed-label series exist at zero before any event.
func TestFreshFamilies(t *testing.T) {
	m := New()
	for _, s := range []string{`rexec_connections{state="preauth"}`, `rexec_connections{state="authenticated"}`,
		`rexec_bytes_total{direction="in"}`, `rexec_bytes_total{direction="out"}`, `rexec_auth_failures_total`,
		`rexec_penalised_sources`, `rexec_syn_recv`, `rexec_syn_flood_alarm`} {
		if got := scrape(t, m, s); got != "0" {
			t.Errorf("%s = %q on a fresh Metrics, want 0", s, got)
		}
	}
}

// TestIndependent: two Metrics share no state.
func TestIndependent(t *testing.T) {
	a, b := New(), New()
	a.AuthFailed()
	a.SessionEnded("exec", "exited")
	if got := scrape(t, b, "rexec_auth_failures_total"); got != "0" {
		t.Errorf("b counted a's failure: %s", got)
	}
	if got := scrape(t, b, `rexec_sessions_total{kind="exec",outcome="exited"}`); got != "" {
		t.Errorf("b counted a's session: %s", got)
	}
}

func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.ConnOpened(StatePreauth)
	m.ConnState(StatePreauth, StateAuthenticated)
	m.ConnClosed(StateAuthenticated)
	m.SessionEnded("exec", "exited")
	m.Bytes(DirIn, 1)
	m.AuthFailed()
	m.Dropped("x")
	m.SetPenalised(1)
	m.SetSYN(SYN{Alarm: true, Onset: true})
	if s, err := m.Serve(context.Background(), "127.0.0.1:0"); err == nil {
		s.Close()
		t.Error("Serve on nil Metrics = nil error")
	}
}

func get(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServe(t *testing.T) {
	m := New()
	m.AuthFailed()
	s, err := m.Serve(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.Addr().String()
	if code, body := get(t, "GET", base+"/metrics"); code != 200 || !strings.Contains(body, "rexec_auth_failures_total 1") {
		t.Errorf("GET /metrics = %d, body without the counter:\n%.500s", code, body)
	}
	if code, _ := get(t, "GET", base+"/"); code != http.StatusNotFound {
		t.Errorf("GET / = %d, want 404", code)
	}
	if code, _ := get(t, "POST", base+"/metrics"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics = %d, want 405", code)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if c, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("still accepting after Close")
	}
}

func TestServeStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New().Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting 5 s after ctx ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
}

func TestServeListenError(t *testing.T) {
	if s, err := New().Serve(context.Background(), "256.0.0.1:0"); err == nil {
		s.Close()
		t.Fatal("Serve on a bad address = nil error")
	}
}
