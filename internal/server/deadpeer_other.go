//go:build !linux

package server

import (
	"net"
	"time"
)

// watchPeer sets keepalive probes on nc and returns nil: without TCP_INFO
// there is no watchdog, and the kernel's keepalive drops a peer that went
// silent while nothing was in flight, at about deadPeerBound.
func watchPeer(nc net.Conn, ka time.Duration, _ bool) *peerWatch {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetKeepAliveConfig(tcpKeepaliveConfig(ka))
	}
	return nil
}
