package metrics

import (
	"runtime"
	"runtime/debug"
	"time"
)

// The Go runtime families, under the names, types and help texts of
// Prometheus' Go client (its default Go collector), so that dashboards
// made for any Go program work with rexec's: go_gc_duration_seconds,
// go_info, go_goroutines, go_threads, the go_memstats_* set, and two of
// the three gauges it takes from runtime/metrics, read here without that
// package, whose initialisation every rexec process would pay for
// (docs/BENCHMARKS.md, "Start-up cost of net/http"): the third,
// go_gc_gogc_percent, has no other source. go_gc_cycles_total is rexec's
// own and older than the rest.
var (
	goGCDuration = desc{name: "go_gc_duration_seconds", typ: summary, labels: []string{"quantile"},
		help: "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles."}
	goInfo = desc{name: "go_info", typ: gauge, labels: []string{"version"},
		help: "Information about the Go environment."}
	goGoroutines = desc{name: "go_goroutines", typ: gauge,
		help: "Number of goroutines that currently exist."}
	goThreads = desc{name: "go_threads", typ: gauge,
		help: "Number of OS threads created."}
	goGCCycles = desc{name: "go_gc_cycles_total", typ: counter,
		help: "Completed garbage collection cycles (runtime.MemStats.NumGC)."}
	goLastGC = desc{name: "go_memstats_last_gc_time_seconds", typ: gauge,
		help: "Number of seconds since 1970 of last garbage collection."}
	// The client's help text of a runtime/metrics gauge is the runtime's
	// description of the sample and where it comes from;
	// TestRuntimeMetricsHelp holds these to the running Go's.
	goMemLimit = desc{name: "go_gc_gomemlimit_bytes", typ: gauge,
		help: "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. Sourced from /gc/gomemlimit:bytes."}
	goMaxProcs = desc{name: "go_sched_gomaxprocs_threads", typ: gauge,
		help: "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads."}
)

// gcQuantiles are the quantiles of go_gc_duration_seconds: the minimum,
// the quartiles and the maximum of the recent pauses, the five values
// debug.ReadGCStats computes for a PauseQuantiles of five.
var gcQuantiles = [...]string{"0", "0.25", "0.5", "0.75", "1"}

// memStat is one go_memstats_* family and the runtime.MemStats field it
// shows.
type memStat struct {
	desc
	value func(*runtime.MemStats) uint64
}

// memStats are the go_memstats_* families read from runtime.MemStats.
var memStats = []memStat{
	{desc{name: "go_memstats_alloc_bytes", typ: gauge,
		help: "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes."},
		func(m *runtime.MemStats) uint64 { return m.Alloc }},
	{desc{name: "go_memstats_alloc_bytes_total", typ: counter,
		help: "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes."},
		func(m *runtime.MemStats) uint64 { return m.TotalAlloc }},
	{desc{name: "go_memstats_sys_bytes", typ: gauge,
		help: "Number of bytes obtained from system. Equals to /memory/classes/total:byte."},
		func(m *runtime.MemStats) uint64 { return m.Sys }},
	{desc{name: "go_memstats_mallocs_total", typ: counter,
		help: "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects."},
		func(m *runtime.MemStats) uint64 { return m.Mallocs }},
	{desc{name: "go_memstats_frees_total", typ: counter,
		help: "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects."},
		func(m *runtime.MemStats) uint64 { return m.Frees }},
	{desc{name: "go_memstats_heap_alloc_bytes", typ: gauge,
		help: "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes."},
		func(m *runtime.MemStats) uint64 { return m.HeapAlloc }},
	{desc{name: "go_memstats_heap_sys_bytes", typ: gauge,
		help: "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes."},
		func(m *runtime.MemStats) uint64 { return m.HeapSys }},
	{desc{name: "go_memstats_heap_idle_bytes", typ: gauge,
		help: "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes."},
		func(m *runtime.MemStats) uint64 { return m.HeapIdle }},
	{desc{name: "go_memstats_heap_inuse_bytes", typ: gauge,
		help: "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes"},
		func(m *runtime.MemStats) uint64 { return m.HeapInuse }},
	{desc{name: "go_memstats_heap_released_bytes", typ: gauge,
		help: "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes."},
		func(m *runtime.MemStats) uint64 { return m.HeapReleased }},
	{desc{name: "go_memstats_heap_objects", typ: gauge,
		help: "Number of currently allocated objects. Equals to /gc/heap/objects:objects."},
		func(m *runtime.MemStats) uint64 { return m.HeapObjects }},
	{desc{name: "go_memstats_stack_inuse_bytes", typ: gauge,
		help: "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes."},
		func(m *runtime.MemStats) uint64 { return m.StackInuse }},
	{desc{name: "go_memstats_stack_sys_bytes", typ: gauge,
		help: "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes."},
		func(m *runtime.MemStats) uint64 { return m.StackSys }},
	{desc{name: "go_memstats_mspan_inuse_bytes", typ: gauge,
		help: "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes."},
		func(m *runtime.MemStats) uint64 { return m.MSpanInuse }},
	{desc{name: "go_memstats_mspan_sys_bytes", typ: gauge,
		help: "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes."},
		func(m *runtime.MemStats) uint64 { return m.MSpanSys }},
	{desc{name: "go_memstats_mcache_inuse_bytes", typ: gauge,
		help: "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes."},
		func(m *runtime.MemStats) uint64 { return m.MCacheInuse }},
	{desc{name: "go_memstats_mcache_sys_bytes", typ: gauge,
		help: "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes."},
		func(m *runtime.MemStats) uint64 { return m.MCacheSys }},
	{desc{name: "go_memstats_buck_hash_sys_bytes", typ: gauge,
		help: "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes."},
		func(m *runtime.MemStats) uint64 { return m.BuckHashSys }},
	{desc{name: "go_memstats_gc_sys_bytes", typ: gauge,
		help: "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes."},
		func(m *runtime.MemStats) uint64 { return m.GCSys }},
	{desc{name: "go_memstats_other_sys_bytes", typ: gauge,
		help: "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes."},
		func(m *runtime.MemStats) uint64 { return m.OtherSys }},
	{desc{name: "go_memstats_next_gc_bytes", typ: gauge,
		help: "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes."},
		func(m *runtime.MemStats) uint64 { return m.NextGC }},
}

// appendRuntime adds the Go runtime families, read now. ReadMemStats stops
// the world for a few microseconds, which a scrape every few seconds can
// afford.
func appendRuntime(fams []family) []family {
	threads, _ := runtime.ThreadCreateProfile(nil)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc := debug.GCStats{PauseQuantiles: make([]time.Duration, len(gcQuantiles))}
	debug.ReadGCStats(&gc)
	pauses := make([]sample, 0, len(gcQuantiles)+2)
	for i, q := range gcQuantiles {
		pauses = append(pauses, sample{values: labelKey{q}, value: gc.PauseQuantiles[i].Seconds()})
	}
	pauses = append(pauses,
		sample{suffix: "_sum", value: gc.PauseTotal.Seconds()},
		sample{suffix: "_count", value: float64(gc.NumGC)})
	fams = append(fams,
		family{&goGCDuration, pauses},
		family{&goInfo, []sample{{values: labelKey{runtime.Version()}, value: 1}}},
		single(&goGoroutines, float64(runtime.NumGoroutine())),
		single(&goThreads, float64(threads)),
		single(&goGCCycles, float64(ms.NumGC)),
		single(&goLastGC, float64(ms.LastGC)/1e9),
		single(&goMemLimit, float64(debug.SetMemoryLimit(-1))), // a negative limit only reads it
		single(&goMaxProcs, float64(runtime.GOMAXPROCS(0))),    // 0 only reads it
	)
	for i := range memStats {
		fams = append(fams, single(&memStats[i].desc, float64(memStats[i].value(&ms))))
	}
	return fams
}
