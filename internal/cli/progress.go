package cli

import (
	"fmt"
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

	mu    sync.Mutex // mu guards bars and trees
	bars  map[string]*mpb.Bar
	trees int // tree bars made, for their keys
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

// rateWindow is how far back a tree bar's rate looks: long enough to
// smooth the bursts of a batch (hundreds of files counted at once), short
// enough to follow a change of pace.
const rateWindow = 2 * time.Second

// rateSample is how often a tree bar notes its byte count for the rate.
const rateSample = 100 * time.Millisecond

// treeBar is the one bar of a tree transfer (cp -r, several sources, a
// sync): the files done of those expected, the bytes with their rate and
// the time left once the total is known. Its rate is its own (bytes over
// the last rateWindow, the average once done): files arrive by the batch,
// hundreds in a burst, which mpb's per-increment average cannot follow.
// Its methods are safe for concurrent use; a nil treeBar shows nothing.
type treeBar struct {
	cp  *cpProgress
	key string // its key in cp.bars
	bar *mpb.Bar

	mu          sync.Mutex // guards what follows
	done, files int
	bytes       int64     // moved so far
	total       int64     // expected; 0 while unknown
	start, fin  time.Time // fin: when it ended
	samples     []sample  // bytes over time, the last rateWindow of them
}

// sample is a tree bar's byte count at a moment.
type sample struct {
	at    time.Time
	bytes int64
}

// tree adds the bar of one tree transfer, labelled name; nil (no bar)
// when cp is nil. Its total is unknown until setTotal.
func (cp *cpProgress) tree(name string) *treeBar {
	if cp == nil {
		return nil
	}
	b := &treeBar{cp: cp, start: time.Now()}
	b.samples = []sample{{at: b.start}}
	b.bar = cp.p.AddBar(0,
		mpb.PrependDecorators(decor.Name(shorten(name), decor.WCSyncSpaceR), decor.Any(b.filesText, decor.WCSyncSpace)),
		mpb.AppendDecorators(
			decor.Any(b.bytesText, decor.WCSyncSpace),
			decor.Any(b.rateText, decor.WCSyncSpace),
			decor.Any(b.etaText, decor.WCSyncSpace),
		))
	cp.mu.Lock()
	cp.trees++
	b.key = fmt.Sprintf("\x00tree %d", cp.trees) // no file name starts with NUL
	cp.bars[b.key] = b.bar
	cp.mu.Unlock()
	return b
}

// filesText is the bar's file count: "3/10 files", or "3 files" while
// the total is unknown.
func (b *treeBar) filesText(decor.Statistics) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.files == 0 {
		return fmt.Sprintf("%d files", b.done)
	}
	return fmt.Sprintf("%d/%d files", b.done, b.files)
}

// rate is the bytes per second over the samples, or over the whole
// transfer once it is done. b.mu is held.
func (b *treeBar) rate(now time.Time) float64 {
	from := b.samples[0]
	if !b.fin.IsZero() {
		from, now = sample{at: b.start}, b.fin
	}
	if d := now.Sub(from.at).Seconds(); d > 0 {
		return float64(b.bytes-from.bytes) / d
	}
	return 0
}

// bytesText is the bytes moved of those expected, "1.5 MiB / 40.0 MiB",
// or "1.5 MiB" while the total is unknown.
func (b *treeBar) bytesText(decor.Statistics) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.total == 0 {
		return fmt.Sprintf("% .1f", decor.SizeB1024(b.bytes))
	}
	return fmt.Sprintf("% .1f / % .1f", decor.SizeB1024(b.bytes), decor.SizeB1024(b.total))
}

// rateText is the bar's rate, as "12.5 MiB/s".
func (b *treeBar) rateText(decor.Statistics) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf("% .1f/s", decor.SizeB1024(int64(b.rate(time.Now()))))
}

// etaText is the time left at the current rate, "done" at the end, and
// nothing while the total or the rate is unknown.
func (b *treeBar) etaText(decor.Statistics) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.rate(time.Now())
	switch {
	case !b.fin.IsZero():
		return "done"
	case b.total == 0 || r <= 0:
		return ""
	}
	left := time.Duration(float64(max(b.total-b.bytes, 0)) / r * float64(time.Second))
	return left.Round(time.Second).String()
}

// setTotal is CopyOptions.Total: the files and bytes to expect.
func (b *treeBar) setTotal(files int, bytes int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.files, b.total = files, bytes
	b.mu.Unlock()
	b.bar.SetTotal(bytes, false)
}

// progress is CopyOptions.Progress: files complete and bytes moved.
func (b *treeBar) progress(files int, n int64) {
	if b == nil {
		return
	}
	now := time.Now()
	b.mu.Lock()
	b.done += files
	b.bytes += n
	if now.Sub(b.samples[len(b.samples)-1].at) >= rateSample {
		b.samples = append(b.samples, sample{at: now, bytes: b.bytes})
		for len(b.samples) > 2 && now.Sub(b.samples[1].at) >= rateWindow {
			b.samples = b.samples[1:]
		}
	}
	b.mu.Unlock()
	if n > 0 {
		b.bar.IncrInt64(n)
	}
}

// end completes the bar, or stops it where it is when the transfer failed.
func (b *treeBar) end(ok bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.fin = time.Now()
	b.mu.Unlock()
	b.cp.done(b.key, !ok)
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
