// Package loglimit bounds how many lines about one kind of event a daemon
// logs: a peer that can cause a log line (an unauthenticated connection,
// a refused legacy command) can cause them as fast as it likes, and the
// daemon's own log must not fill the disk for it. The lines left out are
// counted and the count reported with the next line let through.
//
// loglimit imports nothing internal.
package loglimit

import (
	"sync"
	"time"
)

// Limiter lets at most PerInterval lines through each Interval. Create it
// with New; it is safe for concurrent use.
type Limiter struct {
	perInterval int
	interval    time.Duration
	now         func() time.Time

	mu         sync.Mutex // mu guards the fields below
	windowEnd  time.Time
	used       int
	suppressed int
}

// New returns a Limiter of perSecond lines a second.
func New(perSecond int) *Limiter {
	return &Limiter{perInterval: perSecond, interval: time.Second, now: time.Now}
}

// NewWithClock is New with a window of interval and an injected clock, for
// tests.
func NewWithClock(per int, interval time.Duration, now func() time.Time) *Limiter {
	return &Limiter{perInterval: per, interval: interval, now: now}
}

// Allow reports whether a line may be logged now and, when it may, how
// many were left out since the last one that was.
func (l *Limiter) Allow() (ok bool, suppressed int) {
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
