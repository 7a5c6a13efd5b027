//go:build !linux

package server

import (
	"net"
	"time"
)

// setUserTimeout is Linux-only; elsewhere keepalive probes must do.
func setUserTimeout(*net.TCPConn, time.Duration) {}
