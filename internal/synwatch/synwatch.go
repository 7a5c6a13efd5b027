// Package synwatch watches for SYN floods against the daemon's listen
// ports: it samples the half-open (SYN_RECV) connections on those ports
// in /proc/net/tcp and tcp6, and the rise of the TcpExt counters in
// /proc/net/netstat that count what SYN_RECV alone misses once the kernel
// falls back to SYN cookies (docs/CLI.md §8). Past a threshold it logs
// "possible SYN flood" (at once, then at most once per WarnEvery) and
// reports each sample into the daemon's metrics.
//
// The /proc files are read through internal/procnet, the one parser of
// /proc/net in rexec. synwatch imports procnet and metrics; neither
// imports it.
package synwatch

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/rexec-dev/rexec/internal/metrics"
	"github.com/rexec-dev/rexec/internal/procnet"
)

// Defaults of Config.
const (
	// DefaultInterval: once a second raises the alarm within 2 s of a
	// flood's first SYN (TestSYNFloodNetns holds the watch to that), and
	// counting half-open rows is cheap next to it even with 10,000
	// sockets (procnet's BenchmarkCountHalfOpen10k).
	DefaultInterval = time.Second
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

// TcpExt counters of /proc/net/netstat the watch follows: each rises only
// when a listen queue is full.
const (
	SyncookiesSent       = "SyncookiesSent"
	ListenOverflows      = "ListenOverflows"
	ListenDrops          = "ListenDrops"
	TCPReqQFullDoCookies = "TCPReqQFullDoCookies"
)

// watchedCounters are the TcpExt counters whose rise the watch reports,
// in the order of its log lines.
var watchedCounters = []string{SyncookiesSent, ListenOverflows, ListenDrops, TCPReqQFullDoCookies}

// Config configures a Watcher. Its zero value watches every port with
// the defaults above, logs nowhere, reports to no metrics and reads
// /proc.
type Config struct {
	Ports             []uint16         // listen ports to count half-open connections on; empty: all
	Interval          time.Duration    // between samples; 0: DefaultInterval
	HalfOpenThreshold int              // alarm at this many half-open connections; 0: default
	CounterRise       int64            // alarm when a watched TcpExt counter rises this much in one interval; 0: default
	WarnEvery         time.Duration    // repeat the warning at most this often; 0: default
	Logger            *slog.Logger     // nil: discard
	Metrics           *metrics.Metrics // where each sample is reported; nil: nowhere
	ProcRoot          string           // "": "/proc"; tests point it at a fake tree
}

// sample is what one look at /proc found. /proc files are not read
// atomically, so on a busy host a count can be off by the sockets that
// came and went during the read: good enough for an alarm.
type sample struct {
	halfOpen int              // SYN_RECV connections on the watched ports (tcp and tcp6)
	sources  int              // distinct source addresses among them
	rise     map[string]int64 // rise of each watched TcpExt counter since the previous sample
}

// Watcher samples /proc periodically for signs of a SYN flood. Create it
// with New and run it with Run; it is not safe for concurrent Runs.
type Watcher struct {
	cfg   Config
	ports map[uint16]bool
	now   func() time.Time

	// Owned by the goroutine in Run.
	last       map[string]int64 // counters at the previous sample; nil before the first
	alarm      bool
	lastWarn   time.Time
	suppressed int // samples in alarm since the last warning, not logged
}

// New returns a Watcher with cfg's zero fields defaulted. It reports an
// empty sample to cfg.Metrics at once, so that every series of the watch
// exists, at 0, from the first scrape.
func New(cfg Config) *Watcher {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
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
	w.report(sample{}, false, false)
	return w
}

// Run samples every Interval until ctx ends, then returns nil. The first
// sample is taken at once; it sets the baseline of the counters, so only
// the half-open count can alarm on it. If it fails (no /proc/net, as off
// Linux) Run returns that error. Later failures are logged, at most once
// per WarnEvery, and sampling goes on.
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
func (w *Watcher) sample() (sample, error) {
	var h procnet.HalfOpen
	for _, name := range []string{"tcp", "tcp6"} {
		err := procnet.CountHalfOpenFile(filepath.Join(w.cfg.ProcRoot, "net", name), w.ports, &h)
		if errors.Is(err, fs.ErrNotExist) && name == "tcp6" {
			continue // IPv6 disabled
		}
		if err != nil {
			return sample{}, err
		}
	}
	counters, err := procnet.ReadNetstat(filepath.Join(w.cfg.ProcRoot, "net", "netstat"), procnet.GroupTCPExt)
	if err != nil {
		return sample{}, err
	}
	s := sample{halfOpen: h.Count, sources: len(h.Sources), rise: map[string]int64{}}
	for _, c := range watchedCounters {
		v, ok := counters[c]
		prev, seen := w.last[c]
		if ok && seen && v >= prev {
			s.rise[c] = v - prev
		}
	}
	w.last = counters
	return s, nil
}

// judge decides whether s is an alarm, reports it and logs: the warning
// at the onset and then at most once per WarnEvery, and an info line when
// the alarm clears.
func (w *Watcher) judge(s sample) {
	alarm := s.halfOpen >= w.cfg.HalfOpenThreshold
	for _, c := range watchedCounters {
		alarm = alarm || s.rise[c] >= w.cfg.CounterRise
	}
	onset := alarm && !w.alarm
	w.report(s, alarm, onset)
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

// report hands s to the metrics, every watched counter included (at 0
// when it did not rise).
func (w *Watcher) report(s sample, alarm, onset bool) {
	rise := make(map[string]int64, len(watchedCounters))
	for _, c := range watchedCounters {
		rise[c] = s.rise[c]
	}
	w.cfg.Metrics.SetSYN(metrics.SYN{HalfOpen: s.halfOpen, Sources: s.sources, Rise: rise, Alarm: alarm, Onset: onset})
}

func (w *Watcher) attrs(s sample) []any {
	a := []any{"half_open", s.halfOpen, "sources", s.sources, "ports", slices.Sorted(maps.Keys(w.ports)),
		"half_open_threshold", w.cfg.HalfOpenThreshold}
	for _, c := range watchedCounters {
		a = append(a, c, s.rise[c])
	}
	if w.suppressed > 0 {
		a = append(a, "samples_not_logged", w.suppressed)
	}
	return a
}
