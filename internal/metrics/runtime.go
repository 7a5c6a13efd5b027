package metrics

import "runtime"

// The Go runtime families: the few that tell a leak (goroutines, threads,
// heap) or GC pressure apart, under the names Prometheus's Go client uses
// so that existing dashboards keep working.
var (
	goGoroutines = desc{name: "go_goroutines", typ: gauge,
		help: "Goroutines that exist at scrape time (runtime.NumGoroutine)."}
	goThreads = desc{name: "go_threads", typ: gauge,
		help: "OS threads the Go runtime holds (runtime.ThreadCreateProfile)."}
	goAllocBytes = desc{name: "go_memstats_alloc_bytes", typ: gauge,
		help: "Bytes of heap objects allocated and not yet freed (runtime.MemStats.Alloc)."}
	goSysBytes = desc{name: "go_memstats_sys_bytes", typ: gauge,
		help: "Bytes of memory the Go runtime has obtained from the OS (runtime.MemStats.Sys)."}
	goHeapInuseBytes = desc{name: "go_memstats_heap_inuse_bytes", typ: gauge,
		help: "Bytes in heap spans holding at least one object (runtime.MemStats.HeapInuse)."}
	goGCCycles = desc{name: "go_gc_cycles_total", typ: counter,
		help: "Completed garbage collection cycles (runtime.MemStats.NumGC)."}
)

// appendRuntime adds the Go runtime families, read now. ReadMemStats stops
// the world for a few microseconds, which a scrape every few seconds can
// afford.
func appendRuntime(fams []family) []family {
	threads, _ := runtime.ThreadCreateProfile(nil)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return append(fams,
		single(&goGoroutines, float64(runtime.NumGoroutine())),
		single(&goThreads, float64(threads)),
		single(&goAllocBytes, float64(ms.Alloc)),
		single(&goSysBytes, float64(ms.Sys)),
		single(&goHeapInuseBytes, float64(ms.HeapInuse)),
		single(&goGCCycles, float64(ms.NumGC)),
	)
}
