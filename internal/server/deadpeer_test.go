package server

import (
	"testing"
	"time"
)

// TestPeerGone: the watchdog's decision from one reading of TCP_INFO, in
// each state of a connection, with the window probes capped and not.
func TestPeerGone(t *testing.T) {
	const limit = 43 * time.Second
	tests := []struct {
		name           string
		st             tcpState
		capped, uncapp bool // want with probes capped, uncapped
	}{
		{"idle, heard from lately", tcpState{silence: 15 * time.Second}, false, false},
		{"idle, silent just at the limit", tcpState{silence: limit, probes: 28}, false, false},
		{"idle, keepalive probes unanswered", tcpState{silence: limit + time.Millisecond, probes: 28}, true, true},
		{"data in flight, acknowledged lately", tcpState{silence: 200 * time.Millisecond, unacked: 40, notsent: 1 << 20}, false, false},
		{"data in flight, unacknowledged", tcpState{silence: 44 * time.Second, unacked: 40, notsent: 1 << 20}, true, true},
		{"window closed, probes answered", tcpState{silence: 4 * time.Second, notsent: 4 << 20}, false, false},
		{"window closed, probe just sent", tcpState{silence: 4 * time.Second, notsent: 4 << 20, probes: 1}, false, false},
		{"window closed, long backoff, probes answered", tcpState{silence: 100 * time.Second, notsent: 4 << 20}, true, false},
		{"window closed, long backoff, probe in flight", tcpState{silence: 100 * time.Second, notsent: 4 << 20, probes: 1}, true, false},
		{"window closed, two probes unanswered", tcpState{silence: 100 * time.Second, notsent: 4 << 20, probes: 2}, true, true},
		{"window closed, silent yet within the limit", tcpState{silence: 30 * time.Second, notsent: 4 << 20, probes: 5}, false, false},
	}
	for _, tt := range tests {
		if got := peerGone(tt.st, limit, true); got != tt.capped {
			t.Errorf("%s: peerGone(%+v, %v, capped) = %v, want %v", tt.name, tt.st, limit, got, tt.capped)
		}
		if got := peerGone(tt.st, limit, false); got != tt.uncapp {
			t.Errorf("%s: peerGone(%+v, %v, uncapped) = %v, want %v", tt.name, tt.st, limit, got, tt.uncapp)
		}
	}
}
