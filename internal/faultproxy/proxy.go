// Package faultproxy is a TCP proxy for tests that damages streams on
// purpose, at exact byte offsets and per connection: it delays, drops,
// truncates, cuts, flips a bit or reorders. It stands in for tc netem,
// which the test machines lack, and lets a test prove what happens when
// the network misbehaves at any given byte.
//
// It listens on 127.0.0.1 only and imports nothing of rexec's, so any
// package's tests may put it between a client and a server.
package faultproxy

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// DialTimeout bounds the proxy's connection to the target.
const DialTimeout = 5 * time.Second

// Proxy forwards connections accepted on Addr to a target, applying each
// connection's Plan. Close stops it; its methods are safe for concurrent
// use.
type Proxy struct {
	ln     net.Listener
	target string
	plan   func(n int) Plan
	ctx    context.Context // cancelled by Close: stops dials and delays
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and every link

	mu     sync.Mutex // mu guards links and closed
	links  []*Link
	closed bool
}

// Listen starts a proxy on 127.0.0.1 (a free port) to target. plan gives
// the n-th accepted connection's faults (n from 0); nil forwards every
// connection faithfully. Every plan is checked when its connection is
// accepted; a bad one closes that connection and is reported by
// Link.Err.
func Listen(target string, plan func(n int) Plan) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if plan == nil {
		plan = func(int) Plan { return Plan{} }
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{ln: ln, target: target, plan: plan, ctx: ctx, cancel: cancel}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's listen address (host:port).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Links returns every connection accepted so far, in accept order.
func (p *Proxy) Links() []*Link {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*Link(nil), p.links...)
}

// Close stops accepting, closes every link and returns once all of the
// proxy's goroutines are gone. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	links := append([]*Link(nil), p.links...)
	p.mu.Unlock()
	p.cancel()
	err := p.ln.Close()
	for _, l := range links {
		l.shut()
	}
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for n := 0; ; n++ {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed: Close owns the listener
		}
		l := newLink(n, p.plan(n), c)
		if !p.track(l) {
			c.Close()
			return
		}
		go func() {
			defer p.wg.Done()
			l.run(p.ctx, p.target)
		}()
	}
}

// track registers l, or reports false once Close has begun.
func (p *Proxy) track(l *Link) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.links = append(p.links, l)
	p.wg.Add(1)
	return true
}
