package cli

import (
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// progressRefresh is how often bars are redrawn: smooth enough to read,
// cheap next to the copy.
const progressRefresh = 150 * time.Millisecond

// maxBarName bounds the file name shown before a bar.
const maxBarName = 32

// cpProgress draws one bar per file (bytes, rate, ETA) on a terminal.
// Finished bars scroll up and stay, as scp's lines do. Its methods are
// safe for concurrent use; lines printed through Write appear above the
// bars instead of tearing them.
type cpProgress struct {
	p *mpb.Progress

	mu   sync.Mutex // mu guards bars
	bars map[string]*mpb.Bar
}

// newProgress returns a progress display on w when w is a terminal and
// quiet is false; otherwise nil, which shows nothing.
func newProgress(w io.Writer, quiet bool) *cpProgress {
	f, ok := w.(*os.File)
	if quiet || !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	p := mpb.New(mpb.WithOutput(w), mpb.WithRefreshRate(progressRefresh), mpb.PopCompletedMode())
	return &cpProgress{p: p, bars: map[string]*mpb.Bar{}}
}

// start adds the bar of one file; the returned function counts bytes.
func (cp *cpProgress) start(name string, length, offset int64) func(int64) {
	if cp == nil {
		return nil
	}
	bar := cp.p.AddBar(length,
		mpb.PrependDecorators(decor.Name(barName(name), decor.WCSyncSpaceR)),
		mpb.AppendDecorators(
			decor.CountersKibiByte("% .1f / % .1f", decor.WCSyncSpace),
			decor.EwmaSpeed(decor.SizeB1024(0), "% .1f", 30, decor.WCSyncSpace),
			decor.OnComplete(decor.EwmaETA(decor.ET_STYLE_GO, 30, decor.WCSyncSpace), "done"),
		))
	bar.SetCurrent(offset)
	cp.mu.Lock()
	cp.bars[name] = bar
	cp.mu.Unlock()
	last := time.Now()
	return func(n int64) {
		now := time.Now()
		bar.EwmaIncrInt64(n, now.Sub(last))
		last = now
	}
}

// done completes or aborts the bar of a file that ended.
func (cp *cpProgress) done(name string, failed bool) {
	if cp == nil {
		return
	}
	cp.mu.Lock()
	bar := cp.bars[name]
	delete(cp.bars, name)
	cp.mu.Unlock()
	switch {
	case bar == nil:
	case failed:
		bar.Abort(false)
	default:
		bar.SetTotal(-1, true) // complete, whatever the count (empty files)
	}
}

// Write prints above the bars.
func (cp *cpProgress) Write(b []byte) (int, error) { return cp.p.Write(b) }

// wait aborts bars left running (a lost connection) and waits for the
// display to finish drawing.
func (cp *cpProgress) wait() {
	if cp == nil {
		return
	}
	cp.mu.Lock()
	for name, bar := range cp.bars {
		bar.Abort(false)
		delete(cp.bars, name)
	}
	cp.mu.Unlock()
	cp.p.Wait()
}

// barName shortens a path to fit before a bar: its base name, cut.
func barName(name string) string {
	base := filepath.Base(name)
	if r := []rune(base); len(r) > maxBarName {
		return string(r[:maxBarName-1]) + "…"
	}
	return base
}
