//go:build linux || darwin

package flood

import "syscall"

// raiseNoFile raises the RLIMIT_NOFILE soft limit to need, and the hard
// limit too when it is lower and we may (root), and returns the soft
// limit in force afterwards. Go already raised the soft limit to the hard
// one at start-up; this is for hard limits below need.
func raiseNoFile(need uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= need {
		return lim.Cur, nil
	}
	want := syscall.Rlimit{Cur: need, Max: max(lim.Max, need)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Not allowed past the hard limit: take what we may.
		want = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err2 != nil {
			return lim.Cur, err2
		}
		return lim.Max, err
	}
	return need, nil
}
