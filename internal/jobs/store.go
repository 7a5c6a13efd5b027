package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/rexec-dev/rexec/internal/outcome"
)

// Defaults for Config's zero values (docs/CLI.md §8: job_spool_max,
// jobs_spool_total, job_ttl).
const (
	// DefaultJobMax is a job's spool cap, both streams together: a build
	// log of tens of megabytes is kept whole, and sixteen jobs at their
	// cap fit in DefaultTotalMax.
	DefaultJobMax = 64 << 20
	// DefaultTotalMax bounds every spool together, so jobs cannot fill
	// the daemon's disk.
	DefaultTotalMax = 1 << 30
	// DefaultTTL is how long a finished job's outcome and output stay
	// readable: long enough to come back the next day.
	DefaultTTL = 24 * time.Hour
	// MinJobMax is the smallest cap accepted: room for the segments of
	// both streams and one write.
	MinJobMax = 1 << 20
	// segmentsPerCap is how many segments a full spool has: dropping one
	// frees an eighth of the cap, so the spool stays between seven and
	// eight eighths full once it wrapped.
	segmentsPerCap = 8
	// sweepsPerTTL is how many sweeps (Sweep) run per TTL: a finished
	// job nobody asks about stays at most an eighth of its TTL longer.
	sweepsPerTTL = 8
	// maxSweepInterval bounds the sweep's period for long TTLs: a job is
	// removed at most a minute after it expired.
	maxSweepInterval = time.Minute
	// minSweepInterval bounds how often the sweep runs however short
	// the TTL, so that a tiny TTL cannot make it spin.
	minSweepInterval = 10 * time.Millisecond
)

// Streams of a job, as indexes into its spools.
const (
	Stdout = 0
	Stderr = 1
)

// streamNames name the spool files of each stream.
var streamNames = [2]string{"stdout", "stderr"}

// Errors of the store.
var (
	// ErrUnknown is a job that does not exist for this owner: never
	// created, expired, or another owner's (not told apart).
	ErrUnknown = errors.New("no such job")
	// ErrFull is a new job refused because the total cap is reserved.
	ErrFull = errors.New("the job spool is full")
	// ErrDropped is a read below the first byte still kept.
	ErrDropped = errors.New("bytes dropped over the job's cap")
	// ErrPastEnd is a read at or beyond the end of what was written.
	ErrPastEnd = errors.New("offset past the end of the stream")
)

// Config configures a Store; zero values mean the defaults above.
type Config struct {
	// Dir holds one directory per job; created 0700 if missing.
	Dir      string
	JobMax   int64
	TotalMax int64
	TTL      time.Duration
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Owner is who may see a job: the key that started it and the account
// it ran as.
type Owner struct {
	Key     string `json:"key"`
	Account string `json:"account,omitempty"`
}

// End is how a job ended, as its attach's exit message says it.
type End struct {
	Outcome  string `json:"outcome"`
	Code     int    `json:"code"`
	Signal   string `json:"signal,omitempty"`
	SignalN  int    `json:"signal_number,omitempty"`
	TimedOut bool   `json:"timed_out,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Meta is what a job's meta.json holds.
type Meta struct {
	ID      string    `json:"id"`
	Owner   Owner     `json:"owner"`
	Command string    `json:"command"`
	Session string    `json:"session"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	End     *End      `json:"end,omitempty"`
}

// OutcomeInterrupted is the outcome of a job that was running when the
// daemon stopped without ending it (a crash, SIGKILL): nobody saw how it
// ended.
const OutcomeInterrupted = string(outcome.Interrupted)

// Store is the jobs directory. Its methods are safe for concurrent use.
type Store struct {
	cfg Config

	mu       sync.Mutex // guards jobs and reserved
	jobs     map[string]*Job
	reserved int64 // running jobs count their cap, ended ones their size
}

// Open creates or loads the store. A job that was running when the daemon
// last stopped is recorded as interrupted; its spool stays readable.
func Open(cfg Config) (*Store, error) {
	if cfg.JobMax <= 0 {
		cfg.JobMax = DefaultJobMax
	}
	if cfg.TotalMax <= 0 {
		cfg.TotalMax = DefaultTotalMax
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.JobMax < MinJobMax || cfg.JobMax > cfg.TotalMax {
		return nil, fmt.Errorf("jobs: job spool cap %d must be between %d and the total %d", cfg.JobMax, MinJobMax, cfg.TotalMax)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if err := os.Chmod(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	s := &Store{cfg: cfg, jobs: map[string]*Job{}}
	ents, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	for _, e := range ents {
		if !e.IsDir() || checkID(e.Name()) != nil {
			continue
		}
		j, err := s.load(e.Name())
		if err != nil {
			_ = os.RemoveAll(filepath.Join(cfg.Dir, e.Name())) // half-created or damaged: nothing to show
			continue
		}
		s.jobs[j.meta.ID] = j
		s.reserved += j.onDisk()
	}
	s.expire()
	return s, nil
}

// SegmentSize is the size of one spool segment.
func (s *Store) SegmentSize() int64 { return max(s.cfg.JobMax/segmentsPerCap, 1) }

// JobMax is the per-job cap in force.
func (s *Store) JobMax() int64 { return s.cfg.JobMax }

// Reserved is how many bytes of the total the jobs hold now.
func (s *Store) Reserved() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reserved
}

// Create starts a job's directory and meta.json. It fails with ErrFull
// when the total cannot hold one more job at its cap.
func (s *Store) Create(owner Owner, command, session string) (*Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked()
	if s.reserved+s.cfg.JobMax > s.cfg.TotalMax {
		return nil, fmt.Errorf("%w: %d of %d bytes held by jobs; finished jobs expire after %v", ErrFull, s.reserved, s.cfg.TotalMax, s.cfg.TTL)
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	j := &Job{s: s, dir: filepath.Join(s.cfg.Dir, id), changed: make(chan struct{}),
		meta: Meta{ID: id, Owner: owner, Command: command, Session: session, Started: s.cfg.Now().UTC()}}
	if err := os.Mkdir(j.dir, 0o700); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if err := j.saveMeta(); err != nil {
		_ = os.RemoveAll(j.dir)
		return nil, err
	}
	s.jobs[id] = j
	s.reserved += s.cfg.JobMax
	return j, nil
}

// Get returns owner's job id, or ErrUnknown.
func (s *Store) Get(owner Owner, id string) (*Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked()
	j, ok := s.jobs[id]
	if !ok || j.meta.Owner != owner {
		return nil, fmt.Errorf("%w: %s", ErrUnknown, id)
	}
	return j, nil
}

// List returns owner's jobs, oldest first.
func (s *Store) List(owner Owner) []Info {
	s.mu.Lock()
	s.expireLocked()
	var js []*Job
	for _, j := range s.jobs {
		if j.meta.Owner == owner {
			js = append(js, j)
		}
	}
	s.mu.Unlock()
	out := make([]Info, 0, len(js))
	for _, j := range js {
		out = append(out, j.Info())
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].Started.Equal(out[b].Started) {
			return out[a].Started.Before(out[b].Started)
		}
		return out[a].ID < out[b].ID
	})
	return out
}

// Running returns the jobs not yet finished (the daemon ends them when it
// stops).
func (s *Store) Running() []*Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Job
	for _, j := range s.jobs {
		if j.Info().Running() {
			out = append(out, j)
		}
	}
	return out
}

// Sweep removes finished jobs past their TTL periodically, until ctx
// ends. Get, List and Create expire jobs too, but only when somebody
// calls them: without the sweep a job nobody asks about would stay on
// disk, and hold its share of the total, for good. The daemon runs it on
// a goroutine it waits for.
func (s *Store) Sweep(ctx context.Context) {
	t := time.NewTicker(s.sweepInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.expire()
		}
	}
}

// sweepInterval is Sweep's period: an eighth of the TTL, within bounds.
func (s *Store) sweepInterval() time.Duration {
	return min(max(s.cfg.TTL/sweepsPerTTL, minSweepInterval), maxSweepInterval)
}

// expire removes finished jobs older than the TTL.
func (s *Store) expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked()
}

func (s *Store) expireLocked() {
	now := s.cfg.Now()
	for id, j := range s.jobs {
		info := j.Info()
		if info.Running() || now.Sub(info.Ended) < s.cfg.TTL {
			continue
		}
		s.reserved -= j.onDisk()
		delete(s.jobs, id)
		j.remove()
	}
}

// finished moves a job's reservation from its cap to its size.
func (s *Store) finished(j *Job) {
	s.mu.Lock()
	s.reserved += j.onDisk() - s.cfg.JobMax
	s.mu.Unlock()
}

// load reads a job's directory after a restart.
func (s *Store) load(id string) (*Job, error) {
	dir := filepath.Join(s.cfg.Dir, id)
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return nil, err
	}
	j := &Job{s: s, dir: dir, changed: make(chan struct{})}
	if err := json.Unmarshal(b, &j.meta); err != nil || j.meta.ID != id {
		return nil, fmt.Errorf("jobs: %s: damaged %s", id, metaFile)
	}
	for i := range j.spools {
		if err := j.spools[i].load(dir, streamNames[i]); err != nil {
			return nil, err
		}
	}
	if j.meta.End == nil {
		j.meta.Ended = s.cfg.Now().UTC()
		j.meta.End = &End{Outcome: OutcomeInterrupted, Code: 255,
			Error: "the daemon stopped while the job ran; how it ended is unknown"}
		if err := j.saveMeta(); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// checkID is the form of the ids newID makes: 16 lower-case hex digits.
func checkID(id string) error {
	if len(id) != 16 {
		return ErrUnknown
	}
	if _, err := hex.DecodeString(id); err != nil {
		return ErrUnknown
	}
	return nil
}

func newID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("jobs: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// isNotExist reports a file that is gone (a segment dropped meanwhile).
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
