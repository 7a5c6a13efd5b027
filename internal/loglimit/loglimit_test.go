package loglimit

import (
	"testing"
	"time"
)

func TestLogLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewWithClock(2, time.Second, func() time.Time { return now })
	steps := []struct {
		advance    time.Duration
		ok         bool
		suppressed int
	}{
		{0, true, 0}, {0, true, 0}, {0, false, 0}, {500 * time.Millisecond, false, 0},
		{600 * time.Millisecond, true, 2}, {0, true, 0}, {0, false, 0}, {2 * time.Second, true, 1},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if ok, sup := l.Allow(); ok != s.ok || sup != s.suppressed {
			t.Errorf("step %d: Allow() = %v, %d; want %v, %d", i, ok, sup, s.ok, s.suppressed)
		}
	}
}
