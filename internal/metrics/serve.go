package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits of the /metrics listener: a scraper connects, sends one small GET
// at once and reads some tens of KiB, so anything slower, bigger or more
// numerous is a slowloris, not Prometheus.
const (
	// readHeaderTimeout bounds the request head, from the first byte a
	// kept-alive connection sends or from accept: a client that sends
	// nothing, or too little, is dropped then, without an answer.
	readHeaderTimeout = 5 * time.Second
	// readTimeout bounds reading the whole request; /metrics wants no
	// body, so a request takes no longer than its head.
	readTimeout = 5 * time.Second
	// writeTimeout bounds, from the end of the request, the scrape and
	// writing its answer: longer than scrapeTimeout, so that the 503 of
	// a stuck scrape still gets out.
	writeTimeout = scrapeTimeout + 5*time.Second
	// idleTimeout bounds the wait for the next request on a kept-alive
	// connection. Prometheus keeps its connection between scrapes, 15 s
	// apart in its examples; an idler connection gives its slot back.
	idleTimeout = 30 * time.Second
	// maxHeaderBytes bounds the request head; net/http reads up to 4 KiB
	// past it before answering 431. Prometheus sends about 300 bytes.
	maxHeaderBytes = 8 << 10
	// maxConns bounds the connections open at once, idle, being read,
	// scraped or written; one more is closed as soon as it is accepted
	// (limitListener). Each holds a goroutine and net/http's buffers.
	maxConns = 64
	// shutdownGrace bounds how long Close waits for scrapes in progress.
	shutdownGrace = 5 * time.Second
)

// limits are what a Server enforces. Serve uses defaultLimits; tests
// shrink them to see a deadline pass in milliseconds.
type limits struct {
	readHeader    time.Duration
	read          time.Duration
	write         time.Duration
	idle          time.Duration
	grace         time.Duration
	maxConns      int
	scrapes       int
	scrapeTimeout time.Duration
}

var defaultLimits = limits{
	readHeader: readHeaderTimeout, read: readTimeout, write: writeTimeout, idle: idleTimeout, grace: shutdownGrace,
	maxConns: maxConns, scrapes: maxScrapesInFlight, scrapeTimeout: scrapeTimeout,
}

// Server serves /metrics with net/http on one listener. It stops when
// Close is called or when the ctx given to Serve ends; Close must be
// called either way to wait for its goroutines.
type Server struct {
	srv    *http.Server
	ln     *limitListener
	render renderFunc
	lim    limits
	slots  chan struct{} // one per scrape in flight

	renderCtx     context.Context // the base of every request's context
	cancelRenders context.CancelFunc
	renders       sync.WaitGroup // the render goroutines

	stop   chan struct{} // closed by the first Close
	once   sync.Once
	served chan struct{}  // closed when srv.Serve has returned
	wg     sync.WaitGroup // the Serve and shutdown goroutines
	err    error          // from serving or closing the listener; set before the goroutines' wg.Done

	mu      sync.Mutex
	conns   map[net.Conn]http.ConnState // mu guards: open connections and their states
	closing bool                        // mu guards: shutting down; new and idle connections are closed
	connWG  sync.WaitGroup              // each connection, from StateNew to StateClosed
}

// Serve listens on addr (host:port; port 0 picks one) and serves /metrics
// there in the background until ctx ends or Close is called: GET and HEAD
// get the text exposition, other methods 405, other paths 404. It returns
// once the listener is bound, or the listen error.
func (m *Metrics) Serve(ctx context.Context, addr string) (*Server, error) {
	if m == nil {
		return nil, errors.New("metrics: Serve on nil *Metrics")
	}
	return serve(ctx, addr, m.render, defaultLimits)
}

// serve is Serve with the render function and the limits given.
func serve(ctx context.Context, addr string, render renderFunc, lim limits) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	s := &Server{ln: newLimitListener(ln.(*net.TCPListener), lim.maxConns), render: render, lim: lim,
		slots: make(chan struct{}, lim.scrapes), stop: make(chan struct{}), served: make(chan struct{}),
		conns: map[net.Conn]http.ConnState{}}
	s.renderCtx, s.cancelRenders = context.WithCancel(context.Background())
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: lim.readHeader,
		ReadTimeout:       lim.read,
		WriteTimeout:      lim.write,
		IdleTimeout:       lim.idle,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         s.connState,
		BaseContext:       func(net.Listener) context.Context { return s.renderCtx },
		// ErrorLog is left nil: what net/http logs over plain HTTP/1.x
		// (a handler's panic, an accept error it retries) is never a
		// client's doing, so it goes to the standard logger, stderr.
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		defer close(s.served)
		if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	go func() { defer s.wg.Done(); s.shutdown(ctx) }()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops serving and returns when every goroutine of the server is
// gone: connections that are idle or have not sent a whole request are
// closed at once; scrapes in progress may finish within shutdownGrace,
// then their connections are closed too and their renders' ctx
// cancelled. A render stuck in the kernel past that still delays Close
// until it returns. The error is from serving or closing the listener, if
// any. Idempotent, and safe to call from several goroutines.
func (s *Server) Close() error {
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
	if s.err != nil {
		return fmt.Errorf("metrics: %w", s.err)
	}
	return nil
}

// shutdown waits for Close or ctx, then takes the server down in order:
// the connections not in a request and the listener, the grace for the
// rest, then the renders.
func (s *Server) shutdown(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-s.stop:
	}
	s.mu.Lock()
	s.closing = true
	for c, st := range s.conns {
		if st == http.StateNew || st == http.StateIdle {
			c.Close()
		}
	}
	s.mu.Unlock()
	grace, cancel := context.WithTimeout(context.Background(), s.lim.grace)
	defer cancel()
	err := s.srv.Shutdown(grace) // returns once every connection is closed, or at the grace
	if errors.Is(err, context.DeadlineExceeded) {
		s.cancelRenders() // scrapes waiting on a render give up...
		s.srv.Close()     // ...and the connections still open are closed
	}
	<-s.served // no connection starts after this
	s.connWG.Wait()
	s.cancelRenders()
	s.renders.Wait()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && s.err == nil {
		s.err = err
	}
}

// connState follows each connection's state for shutdown: once it has
// begun, a connection that is new (no request read yet) or idle between
// requests is closed as soon as it is seen, since net/http's Shutdown
// would wait seconds for a new one that sends nothing.
func (s *Server) connState(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st {
	case http.StateClosed, http.StateHijacked:
		if _, ok := s.conns[c]; ok {
			delete(s.conns, c)
			s.connWG.Done()
		}
		return
	case http.StateNew:
		s.connWG.Add(1) // in Serve's goroutine, which shutdown waits for before connWG
	}
	s.conns[c] = st
	if s.closing && (st == http.StateNew || st == http.StateIdle) {
		c.Close()
	}
}
