package metrics

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
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
// fake tree), with resident pages of pageSize bytes. A family whose file
// cannot be read or parsed is left out.
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
