package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// ErrProcFormat is wrapped by the errors of the /proc/PID/stat and
// /proc/stat parsers.
var ErrProcFormat = errors.New("metrics: unexpected /proc format")

// The process families, under the names, types and help texts of
// Prometheus' clients (their default process collector). Which of them a
// scrape has depends on the OS (process_linux.go, process_bsd.go,
// process_other.go): one whose source cannot be read is left out rather
// than reported as 0.
var (
	processCPUSeconds = desc{name: "process_cpu_seconds_total", typ: counter,
		help: "Total user and system CPU time spent in seconds."}
	processOpenFDs = desc{name: "process_open_fds", typ: gauge,
		help: "Number of open file descriptors."}
	processMaxFDs = desc{name: "process_max_fds", typ: gauge,
		help: "Maximum number of open file descriptors."}
	processVirtualBytes = desc{name: "process_virtual_memory_bytes", typ: gauge,
		help: "Virtual memory size in bytes."}
	processVirtualMaxBytes = desc{name: "process_virtual_memory_max_bytes", typ: gauge,
		help: "Maximum amount of virtual memory available in bytes."}
	processResidentBytes = desc{name: "process_resident_memory_bytes", typ: gauge,
		help: "Resident memory size in bytes."}
	processStartTime = desc{name: "process_start_time_seconds", typ: gauge,
		help: "Start time of the process since unix epoch in seconds."}
	processNetReceive = desc{name: "process_network_receive_bytes_total", typ: counter,
		help: "Number of bytes received by the process over the network."}
	processNetTransmit = desc{name: "process_network_transmit_bytes_total", typ: counter,
		help: "Number of bytes sent by the process over the network."}
)

// userHZ is USER_HZ, the unit of the tick counts in /proc/PID/stat: 100 on
// every architecture Go runs on (the kernel converts its own HZ to it).
const userHZ = 100

// selfStat holds the fields of /proc/PID/stat that the process families
// come from.
type selfStat struct {
	utime, stime uint64 // CPU time in user and kernel mode, in ticks of 1/userHZ s
	startTicks   uint64 // start time, in ticks after boot
	vsize        uint64 // virtual memory size in bytes
	rssPages     uint64 // resident set size in pages
}

// Fields of /proc/PID/stat as counted after the ")" that ends the command
// name (proc_pid_stat(5) numbers them from 1 with pid and comm first, so
// field n is at index n-3).
const (
	statUtime     = 14 - 3
	statStime     = 15 - 3
	statStartTime = 22 - 3
	statVsize     = 23 - 3
	statRSS       = 24 - 3
)

// cpuSeconds is the user plus system CPU time.
func (s selfStat) cpuSeconds() float64 {
	return float64(s.utime+s.stime) / userHZ
}

// startSeconds is the start time in seconds since the epoch, given the
// boot time btime from /proc/stat.
func (s selfStat) startSeconds(btime int64) float64 {
	return float64(btime) + float64(s.startTicks)/userHZ
}

// parseSelfStat decodes /proc/PID/stat: "pid (comm) state ppid ...". The
// command name may hold spaces and parentheses, so the fields are counted
// from the last ")". Anything else than that shape with decimal fields is
// an error wrapping ErrProcFormat.
func parseSelfStat(b []byte) (selfStat, error) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 2 || end < open || b[open-1] != ' ' || !isDecimal(b[:open-1]) {
		return selfStat{}, fmt.Errorf("%w: stat: want `pid (comm) state ...`", ErrProcFormat)
	}
	f := bytes.Fields(b[end+1:])
	if len(f) <= statRSS {
		return selfStat{}, fmt.Errorf("%w: stat: %d fields after the command name, want at least %d",
			ErrProcFormat, len(f), statRSS+1)
	}
	var s selfStat
	for _, x := range []struct {
		dst *uint64
		i   int
	}{{&s.utime, statUtime}, {&s.stime, statStime}, {&s.startTicks, statStartTime},
		{&s.vsize, statVsize}, {&s.rssPages, statRSS}} {
		v, err := strconv.ParseUint(string(f[x.i]), 10, 64)
		if err != nil {
			return selfStat{}, fmt.Errorf("%w: stat: field %d: bad value %q", ErrProcFormat, x.i+3, f[x.i])
		}
		*x.dst = v
	}
	return s, nil
}

func isDecimal(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// parseBootTime returns the "btime" of /proc/stat: when the system booted,
// in seconds since the epoch. It works on the whole file rather than a
// line scanner because the "intr" line of a host with many interrupts can
// be longer than any sensible line limit. No btime line, or a bad value,
// is an error wrapping ErrProcFormat.
func parseBootTime(b []byte) (int64, error) {
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte("\n"))
		v, ok := bytes.CutPrefix(line, []byte("btime "))
		if !ok {
			continue
		}
		t, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 63) // 63 bits: fits an int64
		if err != nil {
			return 0, fmt.Errorf("%w: stat: line %d: bad btime %q", ErrProcFormat, n, v)
		}
		return int64(t), nil
	}
	return 0, fmt.Errorf("%w: stat: no btime line", ErrProcFormat)
}
