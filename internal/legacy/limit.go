package legacy

import (
	"sync"
	"time"
)

// refusalLogsPerSecond bounds log lines about refused connections and
// commands: a local process or a web page can open connections as fast
// as it likes, and our own log must not fill the disk for it. The count of
// lines left out is reported with the next one let through.
const refusalLogsPerSecond = 20

// logLimiter lets at most perInterval lines through each interval and
// counts the rest, as the TLS server does for its pre-auth lines.
type logLimiter struct {
	perInterval int
	interval    time.Duration
	now         func() time.Time

	mu         sync.Mutex // guards the fields below
	windowEnd  time.Time
	used       int
	suppressed int
}

func newLogLimiter() *logLimiter {
	return &logLimiter{perInterval: refusalLogsPerSecond, interval: time.Second, now: time.Now}
}

// allow reports whether a line may be logged now, and how many were
// suppressed since the last one that was.
func (l *logLimiter) allow() (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.After(l.windowEnd) {
		l.windowEnd, l.used = now.Add(l.interval), 0
	}
	if l.used >= l.perInterval {
		l.suppressed++
		return false, 0
	}
	l.used++
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}
