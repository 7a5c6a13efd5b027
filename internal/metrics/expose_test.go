package metrics

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var update = flag.Bool("update", false, "rewrite the .golden files in testdata")

// parseExposition parses body with Prometheus's own text parser, which is
// what a real scraper runs; any error fails the test.
func parseExposition(t testing.TB, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("Prometheus's parser rejects the exposition: %v\n%s", err, body)
	}
	return fams
}

// seriesValue returns the value of the series of mf whose labels are
// exactly pairs (name, value, name, value, ...).
func seriesValue(mf *dto.MetricFamily, pairs ...string) (float64, bool) {
	for _, m := range mf.GetMetric() {
		var got []string
		for _, l := range m.GetLabel() {
			got = append(got, l.GetName(), l.GetValue())
		}
		if !slices.Equal(got, pairs) {
			continue
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		default:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// seriesWant is the value one series should have.
type seriesWant struct {
	family string
	labels []string // name, value, name, value, ...
	v      float64
}

func checkSeries(t *testing.T, fams map[string]*dto.MetricFamily, wants []seriesWant) {
	t.Helper()
	for _, w := range wants {
		if got, ok := seriesValue(fams[w.family], w.labels...); !ok || got != w.v {
			t.Errorf("%s%v = %v (present %v), want %v", w.family, w.labels, got, ok, w.v)
		}
	}
}

// knownSequence is the sequence of updates the exposition tests check.
func knownSequence(m *Metrics) {
	m.ConnOpened(StatePreauth)
	m.ConnOpened(StatePreauth)
	m.ConnOpened(StatePreauth)
	m.ConnState(StatePreauth, StateAuthenticated)
	m.ConnClosed(StatePreauth)
	m.SessionEnded("exec", "exited")
	m.SessionEnded("exec", "exited")
	m.SessionEnded("put", "denied")
	m.SessionEnded("exec", "denied")
	m.Bytes(DirIn, 100)
	m.Bytes(DirOut, 1<<20)
	m.Bytes(DirOut, -5)
	m.AuthFailed()
	m.AuthFailed()
	m.Dropped("max_startups")
	m.Dropped("penalty")
	m.Dropped("max_startups")
	m.Resumed(ResumeOK)
	m.Resumed(ResumeOK)
	m.Resumed(ResumeRefused)
	m.Spooled(4096)
	m.SetPenalised(3)
	m.SetSYN(SYN{HalfOpen: 70, Sources: 12, Alarm: true, Onset: true,
		Rise: map[string]int64{"SyncookiesSent": 9, "ListenDrops": 2, "ListenOverflows": 0, "TCPReqQFullDoCookies": 0}})
}

func httpGet(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestExpositionParses scrapes a real HTTP server after knownSequence and
// reads the answer with Prometheus's parser: the content type, every
// family with its HELP and TYPE, the values, and the families in order.
func TestExpositionParses(t *testing.T) {
	m := New()
	knownSequence(m)
	s, err := m.Serve(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	resp, body := httpGet(t, "http://"+s.Addr().String()+"/metrics")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != contentType {
		t.Fatalf("GET = %d, Content-Type %q, want 200, %q", resp.StatusCode, resp.Header.Get("Content-Type"), contentType)
	}
	fams := parseExposition(t, body)

	types := map[string]dto.MetricType{
		"rexec_connections": dto.MetricType_GAUGE, "rexec_sessions_total": dto.MetricType_COUNTER,
		"rexec_bytes_total": dto.MetricType_COUNTER, "rexec_auth_failures_total": dto.MetricType_COUNTER,
		"rexec_drops_total": dto.MetricType_COUNTER, "rexec_penalised_sources": dto.MetricType_GAUGE,
		"rexec_syn_recv": dto.MetricType_GAUGE, "rexec_syn_recv_sources": dto.MetricType_GAUGE,
		"rexec_tcpext_rise": dto.MetricType_GAUGE, "rexec_syn_flood_alarm": dto.MetricType_GAUGE,
		"rexec_syn_flood_alarms_total": dto.MetricType_COUNTER,
		"rexec_resumes_total":          dto.MetricType_COUNTER,
		"rexec_spooled_bytes_total":    dto.MetricType_COUNTER,
	}
	for _, name := range []string{"go_goroutines", "go_threads", "go_info", "go_gc_gomemlimit_bytes",
		"go_sched_gomaxprocs_threads", "go_memstats_last_gc_time_seconds", "go_memstats_sys_bytes",
		"go_memstats_alloc_bytes", "go_memstats_heap_alloc_bytes", "go_memstats_heap_sys_bytes", "go_memstats_heap_idle_bytes",
		"go_memstats_heap_inuse_bytes", "go_memstats_heap_released_bytes", "go_memstats_heap_objects",
		"go_memstats_stack_inuse_bytes", "go_memstats_stack_sys_bytes", "go_memstats_mspan_inuse_bytes",
		"go_memstats_mspan_sys_bytes", "go_memstats_mcache_inuse_bytes", "go_memstats_mcache_sys_bytes",
		"go_memstats_buck_hash_sys_bytes", "go_memstats_gc_sys_bytes", "go_memstats_other_sys_bytes", "go_memstats_next_gc_bytes"} {
		types[name] = dto.MetricType_GAUGE
	}
	for _, name := range []string{"go_gc_cycles_total", "go_memstats_alloc_bytes_total", "go_memstats_mallocs_total",
		"go_memstats_frees_total"} {
		types[name] = dto.MetricType_COUNTER
	}
	types["go_gc_duration_seconds"] = dto.MetricType_SUMMARY
	if runtime.GOOS == "linux" {
		for name, typ := range map[string]dto.MetricType{
			"process_cpu_seconds_total": dto.MetricType_COUNTER, "process_resident_memory_bytes": dto.MetricType_GAUGE,
			"process_virtual_memory_bytes": dto.MetricType_GAUGE, "process_open_fds": dto.MetricType_GAUGE,
			"process_max_fds": dto.MetricType_GAUGE, "process_start_time_seconds": dto.MetricType_GAUGE,
			"process_virtual_memory_max_bytes":    dto.MetricType_GAUGE,
			"process_network_receive_bytes_total": dto.MetricType_COUNTER, "process_network_transmit_bytes_total": dto.MetricType_COUNTER,
		} {
			types[name] = typ
		}
	}
	for name, typ := range types {
		mf := fams[name]
		if mf == nil {
			t.Errorf("family %s missing", name)
		} else if mf.GetType() != typ || mf.GetHelp() == "" {
			t.Errorf("family %s: type %v, help %q; want %v and a help text", name, mf.GetType(), mf.GetHelp(), typ)
		}
	}
	for name := range fams {
		if _, ok := types[name]; !ok {
			t.Errorf("unexpected family %s", name)
		}
	}

	checkSeries(t, fams, []seriesWant{
		{"rexec_connections", []string{"state", "preauth"}, 1},
		{"rexec_connections", []string{"state", "authenticated"}, 1},
		{"rexec_sessions_total", []string{"kind", "exec", "outcome", "exited"}, 2},
		{"rexec_sessions_total", []string{"kind", "exec", "outcome", "denied"}, 1},
		{"rexec_sessions_total", []string{"kind", "put", "outcome", "denied"}, 1},
		{"rexec_bytes_total", []string{"direction", "in"}, 100},
		{"rexec_bytes_total", []string{"direction", "out"}, 1 << 20},
		{"rexec_auth_failures_total", nil, 2},
		{"rexec_drops_total", []string{"reason", "max_startups"}, 2},
		{"rexec_drops_total", []string{"reason", "penalty"}, 1},
		{"rexec_penalised_sources", nil, 3},
		{"rexec_syn_recv", nil, 70},
		{"rexec_syn_recv_sources", nil, 12},
		{"rexec_tcpext_rise", []string{"counter", "SyncookiesSent"}, 9},
		{"rexec_tcpext_rise", []string{"counter", "ListenDrops"}, 2},
		{"rexec_tcpext_rise", []string{"counter", "ListenOverflows"}, 0},
		{"rexec_tcpext_rise", []string{"counter", "TCPReqQFullDoCookies"}, 0},
		{"rexec_syn_flood_alarm", nil, 1},
		{"rexec_syn_flood_alarms_total", nil, 1},
		{"rexec_resumes_total", []string{"result", "resumed"}, 2},
		{"rexec_resumes_total", []string{"result", "refused"}, 1},
		{"rexec_spooled_bytes_total", nil, 4096},
	})
	if n := len(fams["rexec_sessions_total"].GetMetric()); n != 3 {
		t.Errorf("rexec_sessions_total has %d series, want 3", n)
	}
	if v, _ := seriesValue(fams["go_goroutines"]); v < 1 {
		t.Errorf("go_goroutines = %v", v)
	}
	if runtime.GOOS == "linux" {
		if v, _ := seriesValue(fams["process_open_fds"]); v < 3 {
			t.Errorf("process_open_fds = %v, want at least stdin, stdout, stderr", v)
		}
		if v, _ := seriesValue(fams["process_resident_memory_bytes"]); v < 1<<20 {
			t.Errorf("process_resident_memory_bytes = %v", v)
		}
	}

	var names []string
	for _, line := range strings.Split(string(body), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names = append(names, strings.Fields(name)[0])
		}
	}
	if !slices.IsSorted(names) || len(names) != len(fams) || strings.Count(string(body), "# HELP ") != len(fams) {
		t.Errorf("TYPE lines name %v; want the %d families once each, sorted, each with one HELP", names, len(fams))
	}
}

// TestExpositionGolden: rexec's own families after knownSequence, byte for
// byte (regenerate with -update and review the diff). The golden file
// fixes the order of families and series and the number formatting.
func TestExpositionGolden(t *testing.T) {
	m := New()
	knownSequence(m)
	checkGolden(t, "exposition.golden", appendExposition(nil, m.collect(nil)))
}

// checkGolden compares got with testdata/name (rewritten first with
// -update) and parses it with Prometheus' parser.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
	parseExposition(t, got)
}

// TestHostileLabels: label values with the characters the format escapes,
// and bytes that are not UTF-8, reach the parser as they were (or with
// U+FFFD for the bad bytes).
func TestHostileLabels(t *testing.T) {
	cases := []struct{ in, want string }{
		{`back\slash`, `back\slash`},
		{`"quoted"`, `"quoted"`},
		{"new\nline", "new\nline"},
		{`\n`, `\n`},
		{`trailing\`, `trailing\`},
		{`} 1` + "\n" + `evil_metric{a="b"} 2`, `} 1` + "\n" + `evil_metric{a="b"} 2`},
		{"", ""},
		{"tab\tand space", "tab\tand space"},
		{"ünïcödé ✓", "ünïcödé ✓"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{"# HELP x y", "# HELP x y"},
	}
	m := New()
	for i, c := range cases {
		for range i + 1 {
			m.SessionEnded(c.in, "exited")
		}
		m.Dropped(c.in)
	}
	body, err := m.render(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fams := parseExposition(t, body)
	if _, ok := fams["evil_metric"]; ok {
		t.Error("a label value injected a family")
	}
	for i, c := range cases {
		if got, ok := seriesValue(fams["rexec_sessions_total"], "kind", c.want, "outcome", "exited"); !ok || got != float64(i+1) {
			t.Errorf("sessions{kind=%q} = %v (present %v), want %d", c.in, got, ok, i+1)
		}
		if got, ok := seriesValue(fams["rexec_drops_total"], "reason", c.want); !ok || got != 1 {
			t.Errorf("drops{reason=%q} = %v (present %v), want 1", c.in, got, ok)
		}
	}
}

func TestHelpEscaping(t *testing.T) {
	cases := []string{`plain`, `back\slash`, "new\nline", `"quotes" stay`, `\n is not a newline`, `ends with \`}
	for _, help := range cases {
		d := &desc{name: "x_total", help: help, typ: counter}
		body := appendExposition(nil, []family{single(d, 1)})
		if got := parseExposition(t, body)["x_total"].GetHelp(); got != help {
			t.Errorf("help %q read back as %q from:\n%s", help, got, body)
		}
	}
}

func TestAppendFloat(t *testing.T) {
	cases := []struct {
		v    float64
		want string
	}{
		{0, "0"}, {1, "1"}, {-1, "-1"}, {100, "100"}, {123456, "123456"},
		{1 << 20, "1.048576e+06"}, {0.5, "0.5"}, {1e-7, "1e-07"}, {1.7956895732e9, "1.7956895732e+09"},
		{math.MaxInt64, "9.223372036854776e+18"},
		{math.NaN(), "NaN"}, {math.Inf(1), "+Inf"}, {math.Inf(-1), "-Inf"},
	}
	for _, c := range cases {
		if got := string(appendFloat(nil, c.v)); got != c.want {
			t.Errorf("appendFloat(%v) = %s, want %s", c.v, got, c.want)
		}
	}
}

// TestConcurrentUpdates: many goroutines update (adding new series as
// they go) while others scrape; run with -race. Every scrape parses, and
// the final counts are exact.
func TestConcurrentUpdates(t *testing.T) {
	const workers, rounds, outcomes = 16, 500, 5
	m := New()
	stop := make(chan struct{})
	var scrapers sync.WaitGroup
	for range 2 {
		scrapers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				body, err := m.render(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				parseExposition(t, body)
			}
		})
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				m.ConnOpened(StatePreauth)
				m.ConnState(StatePreauth, StateAuthenticated)
				m.Bytes(DirIn, 3)
				m.SessionEnded("exec", fmt.Sprint("outcome", i%outcomes))
				m.Dropped(fmt.Sprint("reason", w))
				m.AuthFailed()
				m.SetPenalised(i)
				m.ConnClosed(StateAuthenticated)
			}
		})
	}
	wg.Wait()
	close(stop)
	scrapers.Wait()

	body, err := m.render(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fams := parseExposition(t, body)
	want := []seriesWant{
		{"rexec_connections", []string{"state", StatePreauth}, 0},
		{"rexec_connections", []string{"state", StateAuthenticated}, 0},
		{"rexec_bytes_total", []string{"direction", DirIn}, 3 * workers * rounds},
		{"rexec_auth_failures_total", nil, workers * rounds},
	}
	for i := range outcomes {
		want = append(want, seriesWant{"rexec_sessions_total",
			[]string{"kind", "exec", "outcome", fmt.Sprint("outcome", i)}, workers * rounds / outcomes})
	}
	for w := range workers {
		want = append(want, seriesWant{"rexec_drops_total", []string{"reason", fmt.Sprint("reason", w)}, rounds})
	}
	checkSeries(t, fams, want)
}

// FuzzExposition: whatever the label values, help text and value, the
// exposition parses and reads back as written.
func FuzzExposition(f *testing.F) {
	f.Add("exec", "exited", "Plain help.", int64(3), 1.5)
	f.Add(`a\"b`, "new\nline", `back\slash`+"\n", int64(-1), math.Inf(1))
	f.Add("\xff", "", "", int64(0), math.NaN())
	f.Fuzz(func(t *testing.T, a, b, help string, n int64, v float64) {
		if !utf8.ValidString(help) {
			t.Skip("help texts are the package's constants, always UTF-8")
		}
		vec := newVec("fuzz_total", help, counter, "a", "b")
		vec.with(a, b).Store(n)
		d := &desc{name: "fuzz_gauge", help: help, typ: gauge}
		body := appendExposition(nil, vec.collect([]family{single(d, v)}))
		fams := parseExposition(t, body)
		wa, wb := strings.ToValidUTF8(a, "\uFFFD"), strings.ToValidUTF8(b, "\uFFFD")
		if got, ok := seriesValue(fams["fuzz_total"], "a", wa, "b", wb); !ok || got != float64(n) {
			t.Fatalf("series {a=%q,b=%q} = %v (present %v), want %d, from:\n%s", a, b, got, ok, n, body)
		}
		if got, _ := seriesValue(fams["fuzz_gauge"]); got != v && !(math.IsNaN(got) && math.IsNaN(v)) {
			t.Fatalf("gauge = %v, want %v, from:\n%s", got, v, body)
		}
		// The parser skips the blanks between the name and the text, as
		// it does for Prometheus's own encoder's output.
		wantHelp := strings.TrimLeft(help, " \t")
		if fams["fuzz_total"].GetHelp() != wantHelp || fams["fuzz_gauge"].GetHelp() != wantHelp {
			t.Fatalf("help read back as %q, want %q", fams["fuzz_total"].GetHelp(), wantHelp)
		}
	})
}
