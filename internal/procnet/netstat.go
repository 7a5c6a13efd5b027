package procnet

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// Groups of /proc/net/netstat that rexec reads.
const (
	// GroupTCPExt holds the TCP counters the SYN-flood watch follows
	// (SyncookiesSent, ListenOverflows, ListenDrops, TCPReqQFullDoCookies).
	GroupTCPExt = "TcpExt"
	// GroupIPExt holds InOctets and OutOctets, the bytes of the network
	// namespace, which Prometheus' clients report as the process's.
	GroupIPExt = "IpExt"
)

// ParseNetstat reads /proc/net/netstat (or /proc/net/snmp): pairs of lines
// "Group: name name ..." and "Group: value value ...". It returns the
// counters of group (GroupTCPExt, GroupIPExt, ...) by name. Every pair must match
// (same group, as many values as names), but only group's values are
// parsed: each a decimal number up to 2^63-1. A malformed pair, a bad
// value in group, or no pair of group at all is an error wrapping
// ErrFormat.
func ParseNetstat(r io.Reader, group string) (map[string]int64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLine)
	var out map[string]int64
	for n := 1; sc.Scan(); n += 2 {
		names := strings.Fields(sc.Text())
		if !sc.Scan() {
			return nil, fmt.Errorf("%w: netstat line %d: names without a value line", ErrFormat, n)
		}
		values := strings.Fields(sc.Text())
		if len(names) == 0 || len(values) != len(names) || names[0] != values[0] || !strings.HasSuffix(names[0], ":") {
			return nil, fmt.Errorf("%w: netstat lines %d-%d: names and values do not pair up", ErrFormat, n, n+1)
		}
		if names[0] != group+":" {
			continue
		}
		if out == nil {
			out = make(map[string]int64, len(names)-1)
		}
		for i := 1; i < len(names); i++ {
			v, err := parseDecimal(values[i], 64)
			if err != nil || v > math.MaxInt64 {
				return nil, fmt.Errorf("%w: netstat line %d: %s: bad value %q", ErrFormat, n+1, names[i], values[i])
			}
			out[names[i]] = int64(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: netstat: %v", ErrFormat, err)
	}
	if out == nil {
		return nil, fmt.Errorf("%w: netstat: no %s lines", ErrFormat, group)
	}
	return out, nil
}

// ReadNetstat is ParseNetstat of the file at path.
func ReadNetstat(path, group string) (map[string]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("procnet: %w", err)
	}
	defer f.Close()
	m, err := ParseNetstat(f, group)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}
