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

	"github.com/rexec-dev/rexec/internal/protocol"
)

// progressRefresh is how often bars are redrawn: smooth enough to read,
// cheap next to the copy.
const progressRefresh = 150 * time.Millisecond

// maxBarName bounds the file name shown before a bar.
const maxBarName = 32

// lastDrawWait bounds how long wait offers the display its last drawing:
// a display that has stopped (it failed to draw) never takes it.
const lastDrawWait = time.Second

// cpProgress draws one bar per file (bytes, rate, ETA) on a terminal, or
// one per host when copying to many (host, hostMeter).
// Finished bars scroll up and stay, as scp's lines do. Its methods are
// safe for concurrent use; lines printed through Write appear above the
// bars instead of tearing them.
type cpProgress struct {
	p *mpb.Progress
	// The display draws when told on redraw, by the goroutine tick (which
	// wait ends) and once more by wait itself: that last drawing prints
	// the lines written since the one before, which mpb drops when it
	// stops without drawing.
	redraw chan any
	stop   chan struct{} // closed by wait: tick returns
	ticked chan struct{} // closed when tick has returned

	mu   sync.Mutex // mu guards bars
	bars map[string]*mpb.Bar
}

// newProgress returns a progress display on w when w is a terminal and
// quiet is false; otherwise nil, which shows nothing. Its wait must be
// called.
func newProgress(w io.Writer, quiet bool) *cpProgress {
	f, ok := w.(*os.File)
	if quiet || !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	cp := &cpProgress{redraw: make(chan any), stop: make(chan struct{}), ticked: make(chan struct{}),
		bars: map[string]*mpb.Bar{}}
	cp.p = mpb.New(mpb.WithOutput(w), mpb.WithManualRefresh(cp.redraw), mpb.PopCompletedMode())
	go cp.tick()
	return cp
}

// tick asks for a drawing every progressRefresh until wait stops it.
func (cp *cpProgress) tick() {
	defer close(cp.ticked)
	t := time.NewTicker(progressRefresh)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			select {
			case cp.redraw <- now:
			case <-cp.stop:
				return
			}
		case <-cp.stop:
			return
		}
	}
}

// start adds the bar of one file; the returned function counts bytes.
func (cp *cpProgress) start(name string, length, offset int64) func(int64) {
	if cp == nil {
		return nil
	}
	bar := cp.addBar(barName(name), length)
	bar.SetCurrent(offset)
	cp.mu.Lock()
	cp.bars[name] = bar
	cp.mu.Unlock()
	return counter(bar)
}

// addBar adds a bar of total bytes (rate, ETA) labelled name.
func (cp *cpProgress) addBar(name string, total int64) *mpb.Bar {
	return cp.p.AddBar(total,
		mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(
			decor.CountersKibiByte("% .1f / % .1f", decor.WCSyncSpace),
			decor.EwmaSpeed(decor.SizeB1024(0), "% .1f", 30, decor.WCSyncSpace),
			decor.OnComplete(decor.EwmaETA(decor.ET_STYLE_GO, 30, decor.WCSyncSpace), "done"),
		))
}

// counter returns a function adding counts of bytes to bar, timed for
// its rate.
func counter(bar *mpb.Bar) func(int64) {
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
	close(cp.stop)
	<-cp.ticked
	last := time.NewTimer(lastDrawWait)
	defer last.Stop()
	select {
	case cp.redraw <- time.Now():
	case <-last.C:
	}
	cp.p.Wait()
}

// barName shortens a path to fit before a bar: its base name, cut.
func barName(name string) string { return shorten(filepath.Base(name)) }

// shorten cuts a label to maxBarName characters, after escaping the
// control characters a peer may have put in it (protocol.Printable): a
// bar's label is drawn on the terminal as it is.
func shorten(s string) string {
	s = protocol.Printable(s)
	if r := []rune(s); len(r) > maxBarName {
		return string(r[:maxBarName-1]) + "…"
	}
	return s
}

// cpMeter shows the progress of a copy's files: a bar per file (one
// host) or a bar per host (a fan-out).
type cpMeter interface {
	// start is CopyOptions.Start.
	start(name string, length, offset int64) func(int64)
	// done is called when a file ended.
	done(name string, failed bool)
}

// hostMeter is the bar of one host of a fan-out: every file of the
// host's copy counts into it. It is used from that host's goroutine only.
type hostMeter struct {
	bar   *mpb.Bar
	count func(int64)
}

// host adds the bar of one host of a fan-out, for total bytes; nil (no
// bar) when cp is nil.
func (cp *cpProgress) host(name string, total int64) *hostMeter {
	if cp == nil {
		return nil
	}
	bar := cp.addBar(shorten(name), total)
	return &hostMeter{bar: bar, count: counter(bar)}
}

// start counts the part of a file a resume keeps and returns the byte
// counter.
func (m *hostMeter) start(_ string, _, offset int64) func(int64) {
	m.bar.IncrInt64(offset)
	return m.count
}

func (m *hostMeter) done(string, bool) {}

// end completes the bar, or stops it where it is when the host failed.
func (m *hostMeter) end(ok bool) {
	switch {
	case m == nil:
	case ok:
		m.bar.SetTotal(-1, true)
	default:
		m.bar.Abort(false)
	}
}
