package audit

import (
	"context"
	"crypto"
	"time"
)

// HeadInterval is how often Watch reports the head while records are
// being written. A cut or rewrite of the log's end can go unnoticed for
// the records written since the last report (and for those after the
// last checkpoint), so this bounds what an attacker can erase without a
// trace to a minute of activity, at the cost of one journal line per
// busy minute.
const HeadInterval = time.Minute

// WatchConfig configures Watch.
type WatchConfig struct {
	// Report is called with the head: once when Watch starts, every
	// HeadEvery if records were written since the last report, and once
	// when Watch stops. The daemon logs it to the journal. Required.
	Report func(Head)
	// HeadEvery is the reporting interval; zero means HeadInterval.
	HeadEvery time.Duration
	// CheckpointEvery, with Key, appends a checkpoint (Log.Checkpoint)
	// at this interval if records were written since the last one, and
	// once when Watch stops. Zero: no checkpoints.
	CheckpointEvery time.Duration
	Key             crypto.Signer
	// Error is called with a checkpoint that could not be written; nil
	// ignores them (the next Append reports a failed Log anyway).
	Error func(error)
}

// Watch reports l's head and writes checkpoints as cfg says until ctx is
// done; then it writes a last checkpoint, reports the final head and
// returns. A head is reported once the records up to it are synced to
// disk, whatever the Log's SyncPolicy. Stop it only once the last records are written (after the
// server has drained), so that the final report is the log's real end.
func Watch(ctx context.Context, l *Log, cfg WatchConfig) {
	every := cfg.HeadEvery
	if every <= 0 {
		every = HeadInterval
	}
	heads := time.NewTicker(every)
	defer heads.Stop()
	var checkpoints <-chan time.Time
	if cfg.CheckpointEvery > 0 && cfg.Key != nil {
		t := time.NewTicker(cfg.CheckpointEvery)
		defer t.Stop()
		checkpoints = t.C
	}
	checkpoint := func() {
		if checkpoints == nil {
			return
		}
		if _, err := l.Checkpoint(cfg.Key); err != nil && cfg.Error != nil {
			cfg.Error(err)
		}
	}
	last := l.durableHead()
	cfg.Report(last)
	for {
		select {
		case <-ctx.Done():
			checkpoint()
			cfg.Report(l.durableHead())
			return
		case <-heads.C:
			if l.Head() != last {
				last = l.durableHead()
				cfg.Report(last)
			}
		case <-checkpoints:
			checkpoint()
		}
	}
}
