package server

import (
	"net"
	"time"
)

// Finding a peer that vanished (docs/CLI.md §8: dropped within keepaliveMisses
// keepalive intervals, 45 s by default), mid-session as between sessions,
// without ever dropping one that is alive but does not read.
//
// The application cannot tell the two apart: a client paused on its own
// output (`rexec run h -- cat big | less`) sends nothing and reads nothing,
// exactly as a vanished one. Its kernel still answers, though: every
// segment the server's kernel sends, data, a keepalive probe or a
// zero-window probe, is acknowledged by a live peer's kernel whatever its
// application does, and by a dead peer never. So the watchdog (peerWatch,
// polled by the connection's keepalive goroutine) reads TCP_INFO and
// closes the connection once the peer has sent nothing at all for
// silenceLimit. For that to say "dead" and nothing else, the server's
// kernel must send something that asks for an answer well within the
// limit, in every state of the connection:
//
//   - nothing to send: keepalive probes, the first after ka of silence,
//     then every probeInterval (tcpKeepaliveConfig);
//   - data in flight: retransmissions, backed off at most to rtoMax;
//   - the peer's window closed, data waiting: zero-window probes, backed
//     off at most to rtoMax too (TCP_RTO_MAX_MS, Linux 6.15). An older
//     kernel backs them off to 2 minutes, so there silence alone says
//     nothing while the window is closed, and the watchdog also wants two
//     probes unanswered (peerGone): a peer that vanishes then is dropped
//     within about 4 minutes, not 45 s.
//
// TCP_USER_TIMEOUT is not set: Linux applies it to a closed window as well,
// counted from the first window probe whatever the answers, which dropped
// paused readers after 42 s.
//
// The arithmetic, with ka the keepalive interval (15 s by default):
//
//	bound        = keepaliveMisses·ka                 45 s: the promise
//	watchPeriod  = min(1 s, ka/4)                     1 s: how often TCP_INFO is read
//	watchSlack   = min(1 s, ka/8)                     1 s: tick and close run late
//	silenceLimit = bound − watchPeriod − watchSlack   43 s
//
// A dead peer's last sign of life is at T; the first tick after
// T+silenceLimit comes at most watchPeriod later and closes the socket, so
// the connection ends by T+bound−watchSlack, and the slack absorbs timer
// and scheduling lateness. A live peer answers within
// max(ka, rtoMax)+RTT (15 s), and a lost answer costs one more probe gap:
// it takes about silenceLimit−ka of lost probes in a row (28 probes at the
// default) to drop a live peer. For very short intervals (tests) the
// limit has a floor, minSilenceLimit, since the kernel probes no faster
// than once a second.
const (
	// probeInterval spaces keepalive probes once the first went
	// unanswered: many chances for a lossy link before the limit.
	probeInterval = time.Second
	// minRTOMax is the least TCP_RTO_MAX_MS Linux accepts.
	minRTOMax = time.Second
	// maxKeepaliveCount is the largest TCP_KEEPCNT Linux accepts.
	maxKeepaliveCount = 127
	// minSilenceLimit keeps a live peer safe under very short intervals:
	// two probe gaps of a second, plus a round trip.
	minSilenceLimit = 2500 * time.Millisecond
)

// watchPeriod is how often the watchdog reads TCP_INFO.
func watchPeriod(ka time.Duration) time.Duration { return min(time.Second, ka/4) }

// watchSlack is what the bound keeps back for a late tick and the close.
func watchSlack(ka time.Duration) time.Duration { return min(time.Second, ka/8) }

// silenceLimit is how long a peer may send nothing at all (no data, no
// acknowledgement) before it is taken for dead.
func silenceLimit(ka time.Duration) time.Duration {
	return max(minSilenceLimit, keepaliveMisses*ka-watchPeriod(ka)-watchSlack(ka))
}

// deadPeerBound is the longest a vanished peer keeps its connection after
// its last sign of life with keepalive interval ka: keepaliveMisses
// intervals (45 s at the default, docs/CLI.md §8), less watchSlack as margin.
func deadPeerBound(ka time.Duration) time.Duration {
	return silenceLimit(ka) + watchPeriod(ka) + watchSlack(ka)
}

// rtoMax caps the kernel's retransmission and window-probe backoff, so a
// live peer whose window is closed is asked (and answers) several times
// within silenceLimit: a third of an interval, 5 s at the default.
func rtoMax(ka time.Duration) time.Duration {
	return min(120*time.Second, max(minRTOMax, (ka/keepaliveMisses).Round(time.Millisecond)))
}

// tcpKeepaliveConfig is SO_KEEPALIVE for interval ka: the first probe after
// ka of silence, then one every probeInterval, and the kernel's own give-up
// at about the bound, behind the watchdog (and the only bound on systems
// without one).
func tcpKeepaliveConfig(ka time.Duration) net.KeepAliveConfig {
	idle := max(ka, time.Second) // the kernel counts in whole seconds
	count := int((deadPeerBound(ka) - idle) / probeInterval)
	return net.KeepAliveConfig{Enable: true, Idle: idle, Interval: probeInterval,
		Count: min(maxKeepaliveCount, max(1, count))}
}

// tcpState is what the watchdog reads of a connection's TCP_INFO.
type tcpState struct {
	// silence is how long ago the peer last sent anything: the later of
	// its last acknowledgement and its last data.
	silence time.Duration
	unacked uint32 // segments sent and not acknowledged
	notsent uint32 // bytes queued and not sent yet
	probes  uint8  // zero-window or keepalive probes unanswered
}

// windowClosed reports the peer's receive window shut with data waiting.
func (st tcpState) windowClosed() bool { return st.unacked == 0 && st.notsent > 0 }

// peerGone decides, from one reading of TCP_INFO, whether the peer is
// gone: silent for longer than limit. probesCapped says the kernel's
// window probes are at most rtoMax apart; when they are not (Linux before
// 6.15), a closed window is probed up to 2 minutes apart and a live
// peer may be silent that long, so there two unanswered probes are wanted
// too: a live peer answers each before the next, which then comes at
// least one backed-off gap (by then more than limit) later.
func peerGone(st tcpState, limit time.Duration, probesCapped bool) bool {
	if st.silence <= limit {
		return false
	}
	if st.windowClosed() && !probesCapped {
		return st.probes >= 2
	}
	return true
}

// peerWatch is the watchdog's view of one TCP connection; see above.
type peerWatch struct {
	read         func() (tcpState, error) // reads TCP_INFO
	limit        time.Duration
	probesCapped bool
}

// gone reads TCP_INFO and reports whether the peer is gone; an error
// (the socket closed) reports false: the reader will notice.
func (w *peerWatch) gone() (tcpState, bool) {
	st, err := w.read()
	if err != nil {
		return st, false
	}
	return st, peerGone(st, w.limit, w.probesCapped)
}
