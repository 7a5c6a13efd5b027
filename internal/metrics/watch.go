package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Defaults of WatchConfig.
const (
	// DefaultWatchInterval: once a second sees a flood within the 2 s the
	// issue asks for, and parsing /proc/net/tcp costs about 3 ms per
	// 10,000 sockets (BenchmarkParseProcNetTCP10k).
	DefaultWatchInterval = time.Second
	// DefaultHalfOpenThreshold: a healthy daemon has a handful of
	// SYN_RECV connections at most (each lives one round trip); 64 is
	// far above that and far below a flood, which fills the whole SYN
	// queue (the listen backlog, 4096 by default).
	DefaultHalfOpenThreshold = 64
	// DefaultCounterRise: SYN cookies are sent and listen queues overflow
	// only when a queue is full; a rise of 16 in one interval is no
	// accident.
	DefaultCounterRise = 16
	// DefaultWarnEvery: while an alarm lasts, the warning is repeated at
	// most this often (the first one is logged at once).
	DefaultWarnEvery = 10 * time.Second
)

// WatchConfig configures a Watcher. Its zero value watches every port with
// the defaults above, logs nowhere and reads /proc.
type WatchConfig struct {
	Ports             []uint16      // listen ports to count half-open connections on; empty: all
	Interval          time.Duration // between samples; 0: DefaultWatchInterval
	HalfOpenThreshold int           // alarm at this many half-open connections; 0: default
	CounterRise       int64         // alarm when a watched TcpExt counter rises this much in one interval; 0: default
	WarnEvery         time.Duration // repeat the warning at most this often; 0: default
	Logger            *slog.Logger  // nil: discard
	Metrics           *Metrics      // gauges to update; nil: none
	ProcRoot          string        // "": "/proc"; tests point it at a fake tree
}

// synSample is what one look at /proc found. /proc files are not read
// atomically, so on a busy host a count can be off by the sockets that came
// and went during the read: good enough for an alarm.
type synSample struct {
	HalfOpen int              // SYN_RECV connections on the watched ports (tcp and tcp6)
	Sources  int              // distinct source addresses among them
	Rise     map[string]int64 // rise of each watched TcpExt counter since the previous sample
}

// Watcher samples /proc periodically for signs of a SYN flood. Create it
// with NewWatcher and run it with Run; it is not safe for concurrent Runs.
type Watcher struct {
	cfg   WatchConfig
	ports map[uint16]bool
	now   func() time.Time

	// Owned by the goroutine in Run.
	last       map[string]int64 // counters at the previous sample; nil before the first
	alarm      bool
	lastWarn   time.Time
	suppressed int // samples in alarm since the last warning, not logged
}

// NewWatcher returns a Watcher with cfg's zero fields defaulted.
func NewWatcher(cfg WatchConfig) *Watcher {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultWatchInterval
	}
	if cfg.HalfOpenThreshold <= 0 {
		cfg.HalfOpenThreshold = DefaultHalfOpenThreshold
	}
	if cfg.CounterRise <= 0 {
		cfg.CounterRise = DefaultCounterRise
	}
	if cfg.WarnEvery <= 0 {
		cfg.WarnEvery = DefaultWarnEvery
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	w := &Watcher{cfg: cfg, now: time.Now}
	if len(cfg.Ports) > 0 {
		w.ports = map[uint16]bool{}
		for _, p := range cfg.Ports {
			w.ports[p] = true
		}
	}
	return w
}

// Run samples every Interval until ctx ends, then returns nil. The first
// sample is taken at once; it sets the baseline of the counters, so only
// the half-open count can alarm on it. If
// it fails (no /proc/net, as off Linux) Run returns that error. Later
// failures are logged, at most once per WarnEvery, and sampling goes on.
func (w *Watcher) Run(ctx context.Context) error {
	s, err := w.sample()
	if err != nil {
		return err
	}
	w.judge(s)
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	var lastErr time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		s, err := w.sample()
		if err != nil {
			if now := w.now(); now.Sub(lastErr) >= w.cfg.WarnEvery {
				lastErr = now
				w.cfg.Logger.Warn("SYN watch: reading /proc failed", "err", err)
			}
			continue
		}
		w.judge(s)
	}
}

// sample reads /proc once and advances the counter baseline.
func (w *Watcher) sample() (synSample, error) {
	var s synSample
	sources := map[string]struct{}{}
	for _, name := range []string{"tcp", "tcp6"} {
		n, src, err := w.parseTCPFile(filepath.Join(w.cfg.ProcRoot, "net", name))
		if errors.Is(err, fs.ErrNotExist) && name == "tcp6" {
			continue // IPv6 disabled
		}
		if err != nil {
			return s, err
		}
		s.HalfOpen += n
		for a := range src {
			sources[a] = struct{}{}
		}
	}
	s.Sources = len(sources)
	counters, err := readNetstat(filepath.Join(w.cfg.ProcRoot, "net", "netstat"))
	if err != nil {
		return s, err
	}
	s.Rise = map[string]int64{}
	for _, c := range watchedCounters {
		v, ok := counters[c]
		prev, seen := w.last[c]
		if ok && seen && v >= prev {
			s.Rise[c] = v - prev
		}
	}
	w.last = counters
	return s, nil
}

func (w *Watcher) parseTCPFile(path string) (int, map[string]struct{}, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, fmt.Errorf("metrics: %w", err)
	}
	defer f.Close()
	n, src, err := ParseProcNetTCP(f, w.ports)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", path, err)
	}
	return n, src, nil
}

func readNetstat(path string) (map[string]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer f.Close()
	m, err := ParseNetstat(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// judge decides whether s is an alarm, updates the gauges and logs: the
// warning at the onset and then at most once per WarnEvery, and an info
// line when the alarm clears.
func (w *Watcher) judge(s synSample) {
	alarm := s.HalfOpen >= w.cfg.HalfOpenThreshold
	for _, c := range watchedCounters {
		alarm = alarm || s.Rise[c] >= w.cfg.CounterRise
	}
	onset := alarm && !w.alarm
	w.cfg.Metrics.setSYN(s, alarm, onset)
	switch {
	case alarm && (onset || w.now().Sub(w.lastWarn) >= w.cfg.WarnEvery):
		w.lastWarn = w.now()
		w.cfg.Logger.Warn("possible SYN flood", w.attrs(s)...)
		w.suppressed = 0
	case alarm:
		w.suppressed++
	case w.alarm:
		w.cfg.Logger.Info("SYN flood alarm cleared", w.attrs(s)...)
	}
	w.alarm = alarm
}

func (w *Watcher) attrs(s synSample) []any {
	a := []any{"half_open", s.HalfOpen, "sources", s.Sources, "ports", slices.Sorted(maps.Keys(w.ports)),
		"half_open_threshold", w.cfg.HalfOpenThreshold}
	for _, c := range watchedCounters {
		a = append(a, c, s.Rise[c])
	}
	if w.suppressed > 0 {
		a = append(a, "samples_not_logged", w.suppressed)
	}
	return a
}
