package metrics

import (
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// TestRuntimeGolden: the Go runtime families, their names, types, help
// texts (Prometheus' Go client's) and series, byte for byte, with every
// value 0 and go_info's version as "goVERSION" so that the file holds
// still (regenerate with -update and review the diff).
func TestRuntimeGolden(t *testing.T) {
	fams := appendRuntime(nil)
	for i, f := range fams {
		for j := range f.samples {
			fams[i].samples[j].value = 0
			if f.desc == &goInfo {
				fams[i].samples[j].values[0] = "goVERSION"
			}
		}
	}
	checkGolden(t, "runtime.golden", appendExposition(nil, fams))
}

// TestRuntimeMetricsHelp: the families Prometheus' client takes from
// runtime/metrics have its help text, the running Go's description of
// the sample and its name, though metrics reads them otherwise.
func TestRuntimeMetricsHelp(t *testing.T) {
	descs := map[string]string{}
	for _, d := range rtmetrics.All() {
		descs[d.Name] = d.Description
	}
	for _, c := range []struct {
		d      *desc
		sample string
	}{{&goMemLimit, "/gc/gomemlimit:bytes"}, {&goMaxProcs, "/sched/gomaxprocs:threads"}} {
		want := descs[c.sample] + " Sourced from " + c.sample + "."
		if descs[c.sample] == "" || c.d.help != want {
			t.Errorf("%s: help %q, want %q", c.d.name, c.d.help, want)
		}
	}
}

// TestRuntimeValues: the figures of this test process, read back with
// Prometheus' parser, agree with what the runtime says.
func TestRuntimeValues(t *testing.T) {
	runtime.GC()
	runtime.GC()
	fams := parseExposition(t, appendExposition(nil, appendRuntime(nil)))

	gc := fams["go_gc_duration_seconds"]
	if gc.GetType() != dto.MetricType_SUMMARY || len(gc.GetMetric()) != 1 {
		t.Fatalf("go_gc_duration_seconds: %v", gc)
	}
	s := gc.GetMetric()[0].GetSummary()
	var qs []float64
	prev := -1.0
	for _, q := range s.GetQuantile() {
		qs = append(qs, q.GetQuantile())
		if q.GetValue() < prev {
			t.Errorf("go_gc_duration_seconds quantile %v = %v, below the one before (%v)", q.GetQuantile(), q.GetValue(), prev)
		}
		prev = q.GetValue()
	}
	if len(qs) != 5 || qs[0] != 0 || qs[1] != 0.25 || qs[2] != 0.5 || qs[3] != 0.75 || qs[4] != 1 {
		t.Errorf("go_gc_duration_seconds quantiles %v, want 0, 0.25, 0.5, 0.75, 1", qs)
	}
	if s.GetSampleCount() < 2 || s.GetSampleSum() <= 0 || s.GetSampleSum() < prev {
		t.Errorf("go_gc_duration_seconds count %d, sum %v after two GCs (max pause %v)", s.GetSampleCount(), s.GetSampleSum(), prev)
	}

	info := fams["go_info"].GetMetric()
	if len(info) != 1 || len(info[0].GetLabel()) != 1 || info[0].GetLabel()[0].GetName() != "version" ||
		info[0].GetLabel()[0].GetValue() != runtime.Version() || info[0].GetGauge().GetValue() != 1 {
		t.Errorf("go_info = %v, want {version=%q} 1", info, runtime.Version())
	}

	limit := debug.SetMemoryLimit(-1) // a negative limit reads it
	v := func(name string) float64 {
		got, ok := seriesValue(fams[name])
		if !ok {
			t.Errorf("%s missing", name)
		}
		return got
	}
	for name, ok := range map[string]bool{
		"go_goroutines":                    v("go_goroutines") >= 1,
		"go_threads":                       v("go_threads") >= 1,
		"go_memstats_alloc_bytes":          v("go_memstats_alloc_bytes") > 0,
		"go_memstats_alloc_bytes_total":    v("go_memstats_alloc_bytes_total") >= v("go_memstats_alloc_bytes"),
		"go_memstats_mallocs_total":        v("go_memstats_mallocs_total") >= v("go_memstats_frees_total"),
		"go_memstats_heap_objects":         v("go_memstats_heap_objects") > 0,
		"go_memstats_heap_sys_bytes":       v("go_memstats_heap_sys_bytes") == v("go_memstats_heap_idle_bytes")+v("go_memstats_heap_inuse_bytes"),
		"go_memstats_sys_bytes":            v("go_memstats_sys_bytes") >= v("go_memstats_heap_sys_bytes"),
		"go_memstats_next_gc_bytes":        v("go_memstats_next_gc_bytes") > 0,
		"go_memstats_last_gc_time_seconds": v("go_memstats_last_gc_time_seconds") > 1.5e9,
		"go_gc_cycles_total":               v("go_gc_cycles_total") >= 2,
		"go_gc_gomemlimit_bytes":           v("go_gc_gomemlimit_bytes") == float64(limit),
		"go_sched_gomaxprocs_threads":      v("go_sched_gomaxprocs_threads") == float64(runtime.GOMAXPROCS(0)),
	} {
		if !ok {
			t.Errorf("%s implausible", name)
		}
	}
}
