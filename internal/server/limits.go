package server

import "sync"

// sessionCount bounds sessions running at once, in total and per client
// key (Config.MaxSessions, MaxSessionsPerKey). mu guards every field.
type sessionCount struct {
	max, maxPerKey int

	mu     sync.Mutex
	total  int
	perKey map[string]int
}

func newSessionCount(max, maxPerKey int) *sessionCount {
	return &sessionCount{max: max, maxPerKey: maxPerKey, perKey: map[string]int{}}
}

// setLimits changes the bounds; sessions running above a lowered bound
// go on, new ones wait for the count to fall under it.
func (sc *sessionCount) setLimits(max, maxPerKey int) {
	sc.mu.Lock()
	sc.max, sc.maxPerKey = max, maxPerKey
	sc.mu.Unlock()
}

// limit is the bound on sessions running at once, as last set.
func (sc *sessionCount) limit() int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.max
}

// acquire takes a slot for key, or reports which limit is reached.
func (sc *sessionCount) acquire(key string) (reason string, ok bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	switch {
	case sc.total >= sc.max:
		return "the server runs its maximum number of sessions", false
	case sc.maxPerKey > 0 && sc.perKey[key] >= sc.maxPerKey:
		return "this key runs its maximum number of sessions", false
	}
	sc.total++
	sc.perKey[key]++
	return "", true
}

// release gives back a slot taken by acquire.
func (sc *sessionCount) release(key string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.total--
	if sc.perKey[key]--; sc.perKey[key] <= 0 {
		delete(sc.perKey, key)
	}
}
