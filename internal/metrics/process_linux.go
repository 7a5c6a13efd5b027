package metrics

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/rexec-dev/rexec/internal/procnet"
)

// fdBatch is how many names of /proc/self/fd one read returns, so that a
// daemon holding 10,000 connections does not build a 10,000-name slice
// per scrape.
const fdBatch = 1024

// appendProcess adds the process families of this process, read now from
// /proc and getrlimit.
func appendProcess(fams []family) []family {
	return appendProcFS(fams, "/proc", os.Getpagesize())
}

// appendProcFS adds the process families from root (a /proc; tests give a
// fake tree), with resident pages of pageSize bytes, and the limits of
// this process. A family whose source cannot be read or parsed is left
// out.
//
// The network families are the IpExt byte counters of the process's
// network namespace (root/self/net/netstat), not of the process alone:
// Linux counts bytes per namespace, and Prometheus' clients report these
// under the same names.
func appendProcFS(fams []family, root string, pageSize int) []family {
	if st, err := readSelfStat(root); err == nil {
		fams = append(fams,
			single(&processCPUSeconds, st.cpuSeconds()),
			single(&processResidentBytes, float64(st.rssPages)*float64(pageSize)),
			single(&processVirtualBytes, float64(st.vsize)))
		if btime, err := readBootTime(root); err == nil {
			fams = append(fams, single(&processStartTime, st.startSeconds(btime)))
		}
	}
	if n, err := countNames(filepath.Join(root, "self", "fd")); err == nil {
		fams = append(fams, single(&processOpenFDs, float64(n)))
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		fams = append(fams, single(&processMaxFDs, float64(rl.Cur)))
	}
	if syscall.Getrlimit(syscall.RLIMIT_AS, &rl) == nil {
		// Unlimited is RLIM_INFINITY, 2^64-1, as the clients show it.
		fams = append(fams, single(&processVirtualMaxBytes, float64(rl.Cur)))
	}
	if c, err := procnet.ReadNetstat(filepath.Join(root, "self", "net", "netstat"), procnet.GroupIPExt); err == nil {
		in, okIn := c["InOctets"]
		out, okOut := c["OutOctets"]
		if okIn && okOut {
			fams = append(fams, single(&processNetReceive, float64(in)), single(&processNetTransmit, float64(out)))
		}
	}
	return fams
}

func readSelfStat(root string) (selfStat, error) {
	b, err := os.ReadFile(filepath.Join(root, "self", "stat"))
	if err != nil {
		return selfStat{}, err
	}
	return parseSelfStat(b)
}

func readBootTime(root string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(root, "stat"))
	if err != nil {
		return 0, err
	}
	return parseBootTime(b)
}

// countNames returns the number of entries in the directory dir.
func countNames(dir string) (int, error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	for {
		names, err := f.Readdirnames(fdBatch)
		n += len(names)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}
