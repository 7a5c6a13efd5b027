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

// HTTP limits of the /metrics listener: a scraper sends one small GET, so
// anything slower or bigger is a slowloris, not Prometheus.
const (
	readHeaderTimeout = 5 * time.Second
	writeTimeout      = 15 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 8 << 10
	// shutdownGrace bounds how long Close waits for scrapes in progress.
	shutdownGrace = 5 * time.Second
)

// Server serves /metrics on one listener. Close stops it; it also stops by
// itself when the ctx given to Serve ends.
type Server struct {
	ln   net.Listener
	hs   *http.Server
	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
	err  error // set by the serve goroutine before wg.Done
}

// Serve listens on addr (host:port; port 0 picks one) and serves /metrics
// there in the background until ctx ends or Close is called. Other paths
// answer 404. It returns once the listener is bound, or the listen error.
func (m *Metrics) Serve(ctx context.Context, addr string) (*Server, error) {
	if m == nil {
		return nil, errors.New("metrics: Serve on nil *Metrics")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	s := &Server{
		ln: ln,
		hs: &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout: readHeaderTimeout, WriteTimeout: writeTimeout,
			IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes},
		stop: make(chan struct{}),
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	go func() {
		defer s.wg.Done()
		select {
		case <-ctx.Done():
		case <-s.stop:
		}
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if s.hs.Shutdown(sctx) != nil {
			s.hs.Close()
		}
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops serving, lets scrapes in progress finish (at most
// shutdownGrace) and returns when the server's goroutines are gone, with
// the error that stopped serving early, if any. Idempotent.
func (s *Server) Close() error {
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
	if s.err != nil {
		return fmt.Errorf("metrics: serving: %w", s.err)
	}
	return nil
}
