package faultproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// chunkSize is how much one read takes from a sender. Offsets do not
// depend on it: every fault is placed by byte count.
const chunkSize = 32 << 10

// Link is one proxied connection: the client's connection to the proxy and
// the proxy's connection to the target, with a pump per direction. Its
// methods are safe for concurrent use.
type Link struct {
	// N is the link's place in accept order, from 0.
	//
	// A link ends when both directions have ended, or at a Cut, or when
	// either side resets; one with a Truncate stays open until the proxy
	// is closed, unless a side resets.
	N int

	plan   Plan
	client net.Conn
	done   chan struct{} // closed when the link's goroutines are gone
	stop   chan struct{} // closed by shut: ends delays
	once   sync.Once

	mu      sync.Mutex // mu guards the fields below
	target  net.Conn   // nil until dialed
	stopped bool
	read    [2]int64  // bytes read from each direction's sender
	written [2]int64  // bytes written to each direction's receiver
	rec     [2][]byte // what each sender sent (Plan.Record)
	fwd     [2][]byte // what each receiver was sent (Plan.Record)
	fired   []Fault
	err     error
}

func newLink(n int, plan Plan, c net.Conn) *Link {
	return &Link{N: n, plan: plan, client: c, done: make(chan struct{}), stop: make(chan struct{})}
}

// Done is closed once the link is over: both connections closed and its
// goroutines gone.
func (l *Link) Done() <-chan struct{} { return l.done }

// Err is why the link could not be set up (a bad plan, the target refused),
// or nil.
func (l *Link) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Read is how many bytes d's sender has sent so far.
func (l *Link) Read(d Direction) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.read[d]
}

// Written is how many bytes have been forwarded in d so far.
func (l *Link) Written(d Direction) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.written[d]
}

// Fired lists the faults that have taken effect, in order: a flip whose
// byte went through, a cut or truncation that was reached, a reorder that
// swapped bytes, a delay that delayed at least one chunk.
func (l *Link) Fired() []Fault {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Fault(nil), l.fired...)
}

// Recorded returns what d's sender sent, before any fault, when the plan
// asked for a record (up to MaxRecord bytes).
func (l *Link) Recorded(d Direction) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.rec[d]...)
}

// Forwarded returns what d's receiver was sent, after the faults, when the
// plan asked for a record (up to MaxRecord bytes). Set against Recorded it
// shows exactly which bytes a fault changed: a Reorder whose sender paused
// swaps less than 2×Len bytes, and one whose segments happen to be equal
// changes nothing.
func (l *Link) Forwarded(d Direction) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.fwd[d]...)
}

// run connects to the target and pumps both directions until both end.
func (l *Link) run(ctx context.Context, target string) {
	defer close(l.done)
	defer l.shut()
	if err := l.plan.validate(); err != nil {
		l.setErr(err)
		return
	}
	if l.plan.Drop {
		return
	}
	d := net.Dialer{Timeout: DialTimeout}
	tc, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		l.setErr(err)
		return
	}
	if !l.setTarget(tc) {
		tc.Close()
		return
	}
	up, down := newPumpState(Up, l.plan), newPumpState(Down, l.plan)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); l.pump(up, l.client, tc) }()
	go func() { defer wg.Done(); l.pump(down, tc, l.client) }()
	wg.Wait()
	if up.truncated || down.truncated {
		<-l.stop // the receiver of a truncation hears nothing, not even the end
	}
}

// shut closes both connections; it is idempotent.
func (l *Link) shut() {
	l.once.Do(func() {
		close(l.stop)
		l.mu.Lock()
		l.stopped = true
		tc := l.target
		l.mu.Unlock()
		l.client.Close()
		if tc != nil {
			tc.Close()
		}
	})
}

func (l *Link) setTarget(tc net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return false
	}
	l.target = tc
	return true
}

func (l *Link) setErr(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
}

func (l *Link) fire(f Fault) {
	l.mu.Lock()
	l.fired = append(l.fired, f)
	l.mu.Unlock()
}

// received counts and, when asked, records bytes read from d's sender.
func (l *Link) received(d Direction, b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.read[d] += int64(len(b))
	if l.plan.Record {
		l.rec[d] = appendBounded(l.rec[d], b)
	}
}

// sent counts and, when asked, records bytes forwarded to d's receiver.
func (l *Link) sent(d Direction, b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.written[d] += int64(len(b))
	if l.plan.Record {
		l.fwd[d] = appendBounded(l.fwd[d], b)
	}
}

// appendBounded appends to rec what fits of b under MaxRecord.
func appendBounded(rec, b []byte) []byte {
	return append(rec, b[:min(len(b), MaxRecord-len(rec))]...)
}

// pump copies src to dst through st's faults until src ends or the link
// is shut.
func (l *Link) pump(st *pumpState, src, dst net.Conn) {
	if st.limit == 0 && !l.limitReached(st) {
		return
	}
	buf := make([]byte, chunkSize)
	for {
		holding := st.holding()
		if holding {
			_ = src.SetReadDeadline(time.Now().Add(st.reorderWait()))
		}
		n, err := src.Read(buf)
		if holding {
			_ = src.SetReadDeadline(time.Time{})
		}
		var out []byte
		if n > 0 {
			l.received(st.dir, buf[:n])
			out = st.transform(buf[:n], l.fire)
		}
		if err != nil && holding && errors.Is(err, os.ErrDeadlineExceeded) {
			out, err = append(out, st.flush(l.fire)...), nil
		}
		if err != nil {
			out = append(out, st.flush(l.fire)...)
		}
		if len(out) > 0 && !l.send(st, dst, out) {
			return
		}
		if err != nil {
			l.endOfInput(st, dst, err)
			return
		}
	}
}

// send forwards out within st's delay and limit; false means the link is
// over (cut, shut, or the receiver failed).
func (l *Link) send(st *pumpState, dst net.Conn, out []byte) bool {
	if st.delay > 0 && !l.sleep(st) {
		return false
	}
	if st.truncated {
		return true
	}
	if st.limit >= 0 && int64(len(out)) > st.limit-st.out {
		out = out[:st.limit-st.out]
	}
	n, err := dst.Write(out)
	st.out += int64(n)
	l.sent(st.dir, out[:n])
	if err != nil {
		l.shut()
		return false
	}
	if st.out == st.limit {
		return l.limitReached(st)
	}
	return true
}

// limitReached applies st's Cut or Truncate once its limit is forwarded;
// false means the link was cut.
func (l *Link) limitReached(st *pumpState) bool {
	l.fire(st.limitFault)
	if st.limitFault.Kind == Cut {
		l.shut()
		return false
	}
	st.truncated = true
	return true
}

// sleep waits out st's delay unless the link is shut first.
func (l *Link) sleep(st *pumpState) bool {
	t := time.NewTimer(st.delay)
	defer t.Stop()
	select {
	case <-t.C:
		if !st.delayed {
			st.delayed = true
			l.fire(st.delayFault)
		}
		return true
	case <-l.stop:
		return false
	}
}

// endOfInput passes the sender's end of stream on as a half-close, except
// after a truncation (the receiver hears nothing more). Any other error
// ends the whole link.
func (l *Link) endOfInput(st *pumpState, dst net.Conn, err error) {
	if !errors.Is(err, io.EOF) {
		l.shut()
		return
	}
	if st.truncated {
		return
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		return
	}
	l.shut()
}
