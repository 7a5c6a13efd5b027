package synwatch

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const tcpHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

// fakeProc is a procRoot whose net/ files a test rewrites.
type fakeProc struct {
	t    *testing.T
	root string
}

func newFakeProc(t *testing.T) *fakeProc {
	p := &fakeProc{t: t, root: t.TempDir()}
	if err := os.Mkdir(filepath.Join(p.root, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	p.setTCP(0, 0)
	p.setCounters(0, 0)
	return p
}

// write replaces net/name atomically, as the kernel's files never show
// half a rewrite.
func (p *fakeProc) write(name, content string) {
	p.t.Helper()
	tmp := filepath.Join(p.root, "net", "."+name)
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		p.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(p.root, "net", name)); err != nil {
		p.t.Fatal(err)
	}
}

// setTCP writes a listener on 127.0.0.1:7022 with synRecv half-open
// connections to it from distinct 192.0.x.y sources, and
// other half-open connections on port 7099, which the watch ignores.
func (p *fakeProc) setTCP(synRecv, otherPort int) {
	var b strings.Builder
	b.WriteString(tcpHeader)
	b.WriteString("   0: 0100007F:1B6E 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0\n")
	for i := range synRecv + otherPort {
		port := "1B6E"
		if i >= synRecv {
			port = "1BBB"
		}
		fmt.Fprintf(&b, "%4d: 0100007F:%s %02X%02X%02X%02X:9C40 03 00000000:00000000 01:00000048 00000000     0        0 0 0 0000000000000000\n",
			i+1, port, i%250+1, i/250, 0, 192)
	}
	p.write("tcp", b.String())
	p.write("tcp6", "  sl  local_address                         remote_address                        st\n")
}

// setCounters writes a netstat with the given SyncookiesSent and
// ListenDrops values.
func (p *fakeProc) setCounters(cookies, drops int64) {
	p.write("netstat", fmt.Sprintf("TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops TCPReqQFullDoCookies\n"+
		"TcpExt: %d 0 0 %d %d\nIpExt: InNoRoutes\nIpExt: 0\n", cookies, drops, cookies))
}

func startWatcher(t *testing.T, cfg Config) (*logCapture, func()) {
	t.Helper()
	logs := newLogCapture()
	cfg.Logger = slog.New(logs)
	w := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return logs, func() { cancel(); wg.Wait() }
}

// TestWatcherFakeProc drives Run through a normal period, a half-open
// flood, its end, and a SYN-cookie flood, checking logs and gauges.
func TestWatcherFakeProc(t *testing.T) {
	p := newFakeProc(t)
	m := serveMetrics(t)
	logs, stop := startWatcher(t, Config{ProcRoot: p.root, Ports: []uint16{7022}, Interval: 10 * time.Millisecond, Metrics: m.Metrics})
	defer stop()

	p.setTCP(5, 200) // a few half-open on our port, many on another
	time.Sleep(100 * time.Millisecond)
	if r, ok := logs.wait("possible SYN flood", 0); ok {
		t.Fatalf("alarm in a normal period: %s", r)
	}
	if got := m.value(t, "rexec_syn_recv"); got != "5" {
		t.Errorf("rexec_syn_recv = %s, want 5", got)
	}

	p.setTCP(300, 0)
	r, ok := logs.wait("possible SYN flood", 2*time.Second)
	if !ok {
		t.Fatalf("no alarm for 300 half-open connections; logs:\n%s", logs)
	}
	if r.level != slog.LevelWarn || r.attrs["half_open"] != "300" || r.attrs["sources"] != "300" {
		t.Errorf("alarm = %s, want WARN with half_open=300 sources=300", r)
	}
	if got := m.value(t, "rexec_syn_flood_alarm"); got != "1" {
		t.Errorf("rexec_syn_flood_alarm = %s during the flood, want 1", got)
	}

	p.setTCP(0, 0)
	if _, ok := logs.wait("SYN flood alarm cleared", 2*time.Second); !ok {
		t.Fatalf("alarm not cleared; logs:\n%s", logs)
	}

	p.setCounters(1000, 0)
	deadline := time.Now().Add(2 * time.Second)
	for len(logs.find("possible SYN flood")) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	alarms := logs.find("possible SYN flood")
	if len(alarms) != 2 || alarms[1].attrs[SyncookiesSent] != "1000" || alarms[1].attrs[TCPReqQFullDoCookies] != "1000" {
		t.Fatalf("after a SYN-cookie burst: alarms %v, want a second one with the counters' rise", alarms)
	}
	if got := m.value(t, "rexec_syn_flood_alarms_total"); got != "2" {
		t.Errorf("rexec_syn_flood_alarms_total = %s, want 2", got)
	}
}

// TestWatcherNormalNoAlarm: a steady system with counters that stand still
// (or go back, as after a namespace reset) never alarms.
func TestWatcherNormalNoAlarm(t *testing.T) {
	p := newFakeProc(t)
	p.setCounters(500, 500)
	logs, stop := startWatcher(t, Config{ProcRoot: p.root, Interval: 5 * time.Millisecond})
	for i := range 10 {
		p.setTCP(i%3, 0)
		p.setCounters(500+int64(i), 500-int64(i)) // small rise; a fall is not a rise
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if rs := logs.find("possible SYN flood"); len(rs) > 0 {
		t.Fatalf("alarm in a normal run: %v", rs)
	}
}

func TestWatcherAlarmOnFirstSample(t *testing.T) {
	p := newFakeProc(t)
	p.setTCP(64, 0)
	logs, stop := startWatcher(t, Config{ProcRoot: p.root, Interval: time.Hour})
	defer stop()
	if _, ok := logs.wait("possible SYN flood", 2*time.Second); !ok {
		t.Fatalf("no alarm at the threshold on the first sample; logs:\n%s", logs)
	}
}

func TestWatcherRunWithoutProc(t *testing.T) {
	w := New(Config{ProcRoot: filepath.Join(t.TempDir(), "missing")})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Run(ctx); err == nil {
		t.Fatal("Run without /proc/net = nil, want an error")
	}
}

// TestWatcherBadFileLogged: a file that stops parsing mid-run is logged
// (once per WarnEvery) and sampling goes on.
func TestWatcherBadFileLogged(t *testing.T) {
	p := newFakeProc(t)
	p.setTCP(7, 0)
	m := serveMetrics(t)
	logs, stop := startWatcher(t, Config{ProcRoot: p.root, Interval: 5 * time.Millisecond, Metrics: m.Metrics})
	defer stop()
	for deadline := time.Now().Add(2 * time.Second); m.value(t, "rexec_syn_recv") != "7"; {
		if time.Now().After(deadline) {
			t.Fatal("no sample within 2 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.write("netstat", "garbage\n")
	if _, ok := logs.wait("SYN watch: reading /proc failed", 2*time.Second); !ok {
		t.Fatalf("bad netstat not logged; logs:\n%s", logs)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(logs.find("SYN watch: reading /proc failed")); n != 1 {
		t.Errorf("read failure logged %d times within WarnEvery, want 1", n)
	}
	p.setCounters(0, 0)
	p.setTCP(100, 0)
	if _, ok := logs.wait("possible SYN flood", 2*time.Second); !ok {
		t.Fatalf("no alarm after the file recovered; logs:\n%s", logs)
	}
}

// TestJudgeRateLimit feeds samples with an injected clock: one warning at
// the onset, then at most one per WarnEvery, then one "cleared".
func TestJudgeRateLimit(t *testing.T) {
	logs := newLogCapture()
	w := New(Config{Logger: slog.New(logs), WarnEvery: 10 * time.Second})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w.now = func() time.Time { return now }
	flood := sample{halfOpen: 1000, sources: 900, rise: map[string]int64{}}
	for range 25 { // 25 samples, one a second
		w.judge(flood)
		now = now.Add(time.Second)
	}
	w.judge(sample{rise: map[string]int64{}})
	warns := logs.find("possible SYN flood")
	if len(warns) != 3 {
		t.Fatalf("%d warnings over 25 s of flood with WarnEvery 10 s, want 3 (at 0, 10, 20 s)", len(warns))
	}
	if warns[1].attrs["samples_not_logged"] != "9" {
		t.Errorf("second warning = %s, want samples_not_logged=9", warns[1])
	}
	if n := len(logs.find("SYN flood alarm cleared")); n != 1 {
		t.Errorf("%d clear messages, want 1", n)
	}
}

func TestNewDefaults(t *testing.T) {
	w := New(Config{})
	c := w.cfg
	if c.Interval != DefaultInterval || c.HalfOpenThreshold != DefaultHalfOpenThreshold ||
		c.CounterRise != DefaultCounterRise || c.WarnEvery != DefaultWarnEvery || c.ProcRoot != "/proc" || c.Logger == nil || w.ports != nil {
		t.Errorf("defaults = %+v", c)
	}
}

// TestNewReportsSeries: the watch's series exist at 0 from New on, every
// followed TcpExt counter included, before the first sample.
func TestNewReportsSeries(t *testing.T) {
	m := serveMetrics(t)
	if got := m.value(t, `rexec_tcpext_rise{counter="SyncookiesSent"}`); got != "" {
		t.Fatalf("rexec_tcpext_rise before New = %q, want absent", got)
	}
	New(Config{Metrics: m.Metrics})
	for _, s := range []string{`rexec_syn_recv`, `rexec_syn_recv_sources`, `rexec_syn_flood_alarm`, `rexec_syn_flood_alarms_total`,
		`rexec_tcpext_rise{counter="SyncookiesSent"}`, `rexec_tcpext_rise{counter="ListenOverflows"}`,
		`rexec_tcpext_rise{counter="ListenDrops"}`, `rexec_tcpext_rise{counter="TCPReqQFullDoCookies"}`} {
		if got := m.value(t, s); got != "0" {
			t.Errorf("%s = %q after New, want 0", s, got)
		}
	}
}
