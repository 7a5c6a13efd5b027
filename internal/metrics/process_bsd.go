//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package metrics

import "syscall"

// appendProcess adds the process families these systems let a process
// read about itself without cgo or sysctl structures: CPU time
// (getrusage) and the descriptor limit (getrlimit).
func appendProcess(fams []family) []family {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		ns := ru.Utime.Nano() + ru.Stime.Nano()
		fams = append(fams, single(&processCPUSeconds, float64(ns)/1e9))
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		fams = append(fams, single(&processMaxFDs, float64(rl.Cur)))
	}
	return fams
}
