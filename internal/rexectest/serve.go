package rexectest

import (
	"errors"
	"net"
	"testing"
	"time"
)

// serveStopTimeout bounds the wait, at cleanup, for an in-process
// server's Serve to return once it was stopped.
const serveStopTimeout = 30 * time.Second

// Served is a server running in this process on a loopback listener
// (ServeLoopback).
type Served struct {
	// Addr is the listener's address, 127.0.0.1:port.
	Addr string

	done chan struct{} // closed once serve has returned
	err  error         // serve's result, valid after done
}

// ServeLoopback listens on 127.0.0.1:0 and runs serve on the listener in
// a goroutine: an in-process server (server.Server.Serve). At t's cleanup
// it calls stop (its Close) and fails t unless stop returns nil and serve
// then returns, within serveStopTimeout, an error that is closed
// (server.ErrServerClosed).
func ServeLoopback(t testing.TB, serve func(net.Listener) error, stop func() error, closed error) *Served {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Served{Addr: ln.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = serve(ln)
	}()
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stopping the server: %v, want nil", err)
		}
		select {
		case <-s.done:
			if !errors.Is(s.err, closed) {
				t.Errorf("Serve() = %v, want %v", s.err, closed)
			}
		case <-time.After(serveStopTimeout):
			t.Errorf("Serve did not return within %v of being stopped", serveStopTimeout)
		}
	})
	return s
}

// Port is the port of Addr.
func (s *Served) Port() int {
	addr, err := net.ResolveTCPAddr("tcp", s.Addr)
	if err != nil {
		return 0
	}
	return addr.Port
}

// Done is closed once serve has returned.
func (s *Served) Done() <-chan struct{} { return s.done }

// Err is what serve returned; valid once Done is closed.
func (s *Served) Err() error { return s.err }
