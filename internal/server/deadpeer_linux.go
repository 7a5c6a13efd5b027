package server

import (
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// watchPeer sets up nc for the dead-peer watchdog (deadpeer.go): keepalive
// probes, the retransmission and window-probe backoff capped at rtoMax, no
// TCP_USER_TIMEOUT. It returns nil for a connection that is not TCP
// (--stdio) or whose socket cannot be reached. uncapped leaves the backoff
// as it is, as on Linux before 6.15 (tests).
func watchPeer(nc net.Conn, ka time.Duration, uncapped bool) *peerWatch {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	_ = tc.SetKeepAliveConfig(tcpKeepaliveConfig(ka))
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &peerWatch{limit: silenceLimit(ka), read: func() (tcpState, error) { return readTCPState(rc) }}
	if !uncapped {
		w.probesCapped = setRTOMax(rc, rtoMax(ka)) == nil
	}
	return w
}

// setRTOMax sets TCP_RTO_MAX_MS; it fails before Linux 6.15.
func setRTOMax(rc syscall.RawConn, d time.Duration) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_RTO_MAX_MS, int(d.Milliseconds()))
	}); err != nil {
		return fmt.Errorf("setting TCP_RTO_MAX_MS: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("setting TCP_RTO_MAX_MS: %w", serr)
	}
	return nil
}

// readTCPState reads what the watchdog needs of TCP_INFO.
func readTCPState(rc syscall.RawConn) (tcpState, error) {
	var ti *unix.TCPInfo
	var serr error
	if err := rc.Control(func(fd uintptr) {
		ti, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return tcpState{}, fmt.Errorf("reading TCP_INFO: %w", err)
	}
	if serr != nil {
		return tcpState{}, fmt.Errorf("reading TCP_INFO: %w", serr)
	}
	return stateOf(ti), nil
}

// stateOf extracts a tcpState from TCP_INFO: the last_*_recv fields count
// milliseconds since the peer's last acknowledgement and last data.
func stateOf(ti *unix.TCPInfo) tcpState {
	last := min(ti.Last_ack_recv, ti.Last_data_recv)
	return tcpState{silence: time.Duration(last) * time.Millisecond,
		unacked: ti.Unacked, notsent: ti.Notsent_bytes, probes: ti.Probes}
}
