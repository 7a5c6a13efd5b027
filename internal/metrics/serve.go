package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Limits of the /metrics listener: a scraper connects, sends one small
// GET at once and reads a few KiB, so anything slower, bigger or more
// numerous is a slowloris, not Prometheus.
const (
	// readHeadTimeout bounds the request head from accept: a client that
	// sends nothing, or too little, is dropped then, without an answer.
	readHeadTimeout = 5 * time.Second
	// writeTimeout bounds writing the response; the exposition is a few
	// KiB, which fit the socket buffer of any scraper that is reading.
	writeTimeout = 15 * time.Second
	// maxConns bounds the connections open at once, being read, scraped
	// or written; one more is closed as soon as it is accepted. Each holds
	// a goroutine and a maxHeadBytes buffer, 64 of them half a MiB.
	maxConns = 64
	// shutdownGrace bounds how long Close waits for scrapes in progress.
	shutdownGrace = 5 * time.Second
	// lingerTimeout and maxLingerBytes bound the reading that follows an
	// answer to a request left partly unread (431, 400): closing a socket
	// with unread input makes the kernel send RST, which can destroy the
	// answer before the client reads it, so the write side is shut, and
	// the rest read and dropped first.
	lingerTimeout  = 500 * time.Millisecond
	maxLingerBytes = 64 << 10
	// maxAcceptBackoff caps the wait after a failed Accept (EMFILE, say),
	// which is retried: a metrics endpoint should outlive a brief fd
	// shortage.
	maxAcceptBackoff = time.Second
)

// limits are what a Server enforces. Serve uses defaultLimits; tests
// shrink them to see a deadline pass in milliseconds.
type limits struct {
	readHead      time.Duration
	write         time.Duration
	grace         time.Duration
	linger        time.Duration
	maxConns      int
	scrapes       int
	scrapeTimeout time.Duration
}

var defaultLimits = limits{
	readHead: readHeadTimeout, write: writeTimeout, grace: shutdownGrace, linger: lingerTimeout,
	maxConns: maxConns, scrapes: maxScrapesInFlight, scrapeTimeout: scrapeTimeout,
}

// Server serves /metrics on one listener with a minimal HTTP/1.x
// responder (httphead.go): one request per connection, then close. It
// stops when Close is called or when the ctx given to Serve ends; Close
// must be called either way to wait for its goroutines.
type Server struct {
	ln     net.Listener
	render renderFunc
	lim    limits
	slots  chan struct{} // one per scrape in flight

	stop          chan struct{} // closed by the first Close
	once          sync.Once
	down          chan struct{} // closed when shutdown begins: the accept loop stops
	acceptDone    chan struct{} // closed when the accept loop has returned
	renderCtx     context.Context
	cancelRenders context.CancelFunc

	wg     sync.WaitGroup // every goroutine of the Server
	connWG sync.WaitGroup // the connection goroutines, for the grace
	err    error          // closing the listener; set before the shutdown goroutine's wg.Done

	mu      sync.Mutex
	conns   map[net.Conn]bool // mu guards; true once the connection is being answered
	closing bool              // mu guards; no more connections are taken or answered
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
	s := &Server{ln: ln, render: render, lim: lim, slots: make(chan struct{}, lim.scrapes),
		stop: make(chan struct{}), down: make(chan struct{}), acceptDone: make(chan struct{}),
		conns: map[net.Conn]bool{}}
	s.renderCtx, s.cancelRenders = context.WithCancel(context.Background())
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.acceptLoop() }()
	go func() { defer s.wg.Done(); s.shutdown(ctx) }()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops serving and returns when every goroutine of the server is
// gone: connections that have not sent their request are closed at once;
// scrapes in progress may finish within shutdownGrace, then their
// connections are closed too and their renders' ctx cancelled. A render
// stuck in the kernel past that still delays Close until it returns. The
// error is from closing the listener, if any. Idempotent, and safe to
// call from several goroutines.
func (s *Server) Close() error {
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
	if s.err != nil {
		return fmt.Errorf("metrics: closing: %w", s.err)
	}
	return nil
}

// shutdown waits for Close or ctx, then takes the server down in order:
// the listener, the connections still reading, the grace for the rest,
// then the renders.
func (s *Server) shutdown(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-s.stop:
	}
	close(s.down)
	s.err = s.ln.Close()
	<-s.acceptDone // no connWG.Add after this
	s.closeConns(false)
	drained := make(chan struct{})
	s.wg.Go(func() { s.connWG.Wait(); close(drained) })
	grace := time.NewTimer(s.lim.grace)
	defer grace.Stop()
	select {
	case <-drained:
	case <-grace.C:
		s.cancelRenders()  // scrapes waiting on a render give up...
		s.closeConns(true) // ...and ones being written fail
		<-drained
	}
	s.cancelRenders()
}

// closeConns stops taking and answering connections, and closes those
// not being answered yet, or all of them.
func (s *Server) closeConns(all bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	for c, answering := range s.conns {
		if all || !answering {
			c.Close()
		}
	}
}

// acceptLoop takes connections until the listener is closed, and hands
// each to a goroutine of its own, or closes it at once past lim.maxConns.
func (s *Server) acceptLoop() {
	defer close(s.acceptDone)
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), maxAcceptBackoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.down:
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		accepted := time.Now()
		if !s.track(c) {
			c.Close()
			continue
		}
		s.connWG.Add(1)
		s.wg.Go(func() { defer s.connWG.Done(); s.serveConn(c, accepted) })
	}
}

// track adds c to the open connections unless they are at the limit or
// the server is closing.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || len(s.conns) >= s.lim.maxConns {
		return false
	}
	s.conns[c] = false
	return true
}

// answering marks c as being answered, unless the server is closing.
func (s *Server) answering(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = true
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// serveConn reads one request head within lim.readHead of accepted,
// writes one response within lim.write and closes c. A client that hangs
// up or times out before its head is complete gets no answer; one whose
// head is refused gets a 4xx and its unread input drained.
func (s *Server) serveConn(c net.Conn, accepted time.Time) {
	defer s.untrack(c)
	c.SetReadDeadline(accepted.Add(s.lim.readHead))
	buf := make([]byte, maxHeadBytes)
	n, end, err := readHead(c, buf)
	if err != nil && !errors.Is(err, errHeadTooLarge) && !errors.Is(err, errHeadTruncated) {
		return
	}
	if !s.answering(c) {
		return
	}
	var req requestHead
	if err == nil {
		req, err = parseHead(buf[:end])
	}
	var resp response
	if err != nil {
		resp = textResponse(statusOf(err), err.Error())
	} else {
		resp = s.respond(req)
	}
	c.SetWriteDeadline(time.Now().Add(s.lim.write))
	if _, werr := c.Write(appendResponse(nil, resp, req.method == "HEAD", time.Now())); werr != nil {
		return
	}
	if err != nil || n > end {
		s.linger(c)
	}
}

// readHead reads into buf until it holds a complete request head, and
// returns how many bytes it read and where the head ends. It fails with
// errHeadTooLarge when buf fills first, errHeadTruncated when the client
// ends its side after a partial head, or the read error (io.EOF before
// any byte, a deadline).
func readHead(c net.Conn, buf []byte) (n, end int, err error) {
	for {
		m, err := c.Read(buf[n:])
		from := max(0, n-2) // a head's end may straddle two reads
		n += m
		if i := headEnd(buf[from:n]); i >= 0 {
			return n, from + i, nil
		}
		switch {
		case n == len(buf):
			return n, 0, errHeadTooLarge
		case errors.Is(err, io.EOF) && n > 0:
			return n, 0, errHeadTruncated
		case err != nil:
			return n, 0, err
		}
	}
}

// linger shuts c's write side, so the client sees the answer end, and
// reads what it still sends for at most lim.linger and maxLingerBytes
// before c is closed (see lingerTimeout).
func (s *Server) linger(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(s.lim.linger))
	io.Copy(io.Discard, io.LimitReader(c, maxLingerBytes))
}
