// Package server is the rexec daemon's engine: it accepts connections,
// authenticates both ends (TLS 1.3, pinned ed25519 keys, authorized_keys),
// then serves requests one after another on each connection, running
// commands through package session. Serve and Shutdown follow net/http.
//
// It sits above session, transport, auth and protocol; the CLI wires it.
//
// The pieces, one concern a file:
//   - server.go: Server, New, the accept loop, Serve, Shutdown and Close.
//   - config.go: Config, its defaults, Reconfigure.
//   - keys.go: authorized_keys as the server holds it: reloads, the
//     watcher, and ending the connections of removed keys.
//   - gate.go: the pre-auth gate (MaxStartups, per-source caps, penalties).
//   - conn.go: one connection from accept to close, and how it ends.
//   - login.go: TLS handshake, authorization, hello, the gate's penalty
//     for a failed login, and the re-authorization of every request.
//   - keepalive.go: pings, the idle timeout, the silence deadline, who owns
//     the connection's deadlines, and the one answer to a ping.
//   - deadpeer*.go: the watchdog that finds a vanished peer from TCP_INFO.
//   - dispatch.go: the reader's loop, and the claim by which one request
//     at a time holds the connection (busy and shutting-down refusals).
//   - exec.go, stdin.go, signals*.go, environ.go, policy.go: exec
//     sessions and what the key's options allow them.
//   - transfer.go: file requests (stat, put, get).
//   - observe.go, auditfile.go: audit records and metrics of sessions and
//     refusals.
//   - limits.go: the count of running sessions.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rexec-dev/rexec/internal/loglimit"
	"github.com/rexec-dev/rexec/internal/transport"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("server: closed")

// Server serves rexec connections. Create it with New.
type Server struct {
	cfg  Config
	tls  *tls.Config
	log  *slog.Logger
	user string // the daemon's own account
	// root: the daemon serves every account (docs/SECURITY.md,
	// "Accounts"); otherwise its own only.
	root bool
	// ttyGroup owns the terminals of other accounts' sessions (the "tty"
	// group), -1 if the system has none.
	ttyGroup int
	// accounts caches the account databases' answers (accountcache.go);
	// it has its own lock.
	accounts accountCache

	gate    *gate             // pre-auth admission; has its own lock
	freed   chan struct{}     // signalled (non-blocking, cap 1) when a connection ends
	prelog  *loglimit.Limiter // rate limit of pre-auth log lines
	running *sessionCount

	done     chan struct{} // closed by Shutdown: background loops end
	doneOnce sync.Once

	mu        sync.Mutex           // mu guards the fields below
	keyStates map[string]*keyState // authorized_keys files by path, as last read
	keyFiles  map[string]keyFile   // how to read each of them again
	keysGen   int                  // counts reads, so the watcher knows when to sweep
	watching  bool                 // watchKeys is running
	listeners map[net.Listener]struct{}
	conns     map[*serverConn]struct{}
	jobRuns   map[string]*jobRun      // running detached jobs by id
	resumable map[string]*execSession // resumable sessions by their token
	// unacked holds the resumable sessions that ended and whose exit
	// awaits the client's acknowledgement, with the connection it went
	// out on; at most MaxSessions of them (resume.go).
	unacked map[*execSession]*serverConn
	closing bool
	wg      sync.WaitGroup // one per connection handler, per Serve loop, and watchKeys
}

// New validates cfg, loads authorized_keys and builds the TLS config.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	tc, err := transport.ServerConfig(cfg.HostKey)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	tc.SessionTicketsDisabled = cfg.NoResumption
	s := &Server{cfg: cfg, tls: tc, log: cfg.Logger, user: currentUser(), root: os.Geteuid() == 0, ttyGroup: ttyGroup(),
		keyStates: map[string]*keyState{}, keyFiles: map[string]keyFile{},
		gate:      newGate(cfg.MaxStartups, cfg.PerSourceMax, cfg.Penalties),
		freed:     make(chan struct{}, 1),
		prelog:    loglimit.New(preauthLogsPerSecond),
		running:   newSessionCount(cfg.MaxSessions, cfg.MaxSessionsPerKey),
		listeners: map[net.Listener]struct{}{}, conns: map[*serverConn]struct{}{},
		done: make(chan struct{})}
	return s, s.reload()
}

// Serve accepts connections on ln until Shutdown or Close, serving each in
// its own goroutine. It always returns a non-nil error; ErrServerClosed
// after Shutdown. Temporary accept errors (EMFILE) back off and retry.
func (s *Server) Serve(ln net.Listener) error {
	if !s.trackListener(ln) {
		return ErrServerClosed
	}
	defer s.untrackListener(ln)
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			if backoff = nextBackoff(backoff, err); backoff > 0 {
				s.preauthLog("accept failed; backing off", "err", err, "delay", backoff)
				s.sleepUnlessFreed(backoff)
				continue
			}
			return fmt.Errorf("server: accept: %w", err)
		}
		backoff = 0
		accepted := time.Now()
		src, known := sourceOf(nc.RemoteAddr())
		if reason, ok := s.gate.admit(src, known); !ok {
			s.cfg.Metrics.Dropped(reason)
			s.preauthLog("connection dropped before authentication", "remote", nc.RemoteAddr().String(), "reason", reason)
			nc.Close()
			continue
		}
		s.startConn(nc, &admission{src: src, known: known, accepted: accepted})
	}
}

// preauthLogsPerSecond bounds log lines about unauthenticated peers.
const preauthLogsPerSecond = 20

// preauthLog logs a line about an unauthenticated peer, rate-limited.
func (s *Server) preauthLog(msg string, args ...any) {
	ok, suppressed := s.prelog.Allow()
	if !ok {
		return
	}
	if suppressed > 0 {
		s.log.Warn("pre-authentication log lines suppressed", "dropped", suppressed)
	}
	s.log.Info(msg, args...)
}

// admission is a connection's place in the pre-auth gate. accepted starts
// the login grace: the deadline is absolute from accept, not from when the
// connection's goroutine first ran.
type admission struct {
	src      netip.Prefix
	known    bool
	accepted time.Time
}

// sleepUnlessFreed waits out an accept backoff (out of file descriptors),
// but wakes as soon as a connection ends and frees one, so service resumes
// at once after a flood instead of up to a full backoff later.
func (s *Server) sleepUnlessFreed(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.freed:
	}
}

// nextBackoff returns how long to wait after a temporary accept error, or 0
// for a permanent one.
func nextBackoff(prev time.Duration, err error) time.Duration {
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() && !isTemporary(err) {
		return 0
	}
	if prev == 0 {
		return 5 * time.Millisecond
	}
	return min(2*prev, time.Second)
}

// ServeConn serves one already-accepted connection (e.g. --stdio) and
// returns when it ends.
func (s *Server) ServeConn(nc net.Conn) {
	c := s.newConn(nc)
	if c == nil {
		nc.Close()
		return
	}
	c.serve()
}

func (s *Server) startConn(nc net.Conn, adm *admission) {
	c := s.newConn(nc)
	if c == nil {
		s.gate.leave(adm.src, adm.known)
		nc.Close()
		return
	}
	c.adm = adm
	go c.serve()
}

// Shutdown stops accepting, closes idle connections, and waits for running
// sessions to end. When ctx is done first, it kills the remaining sessions'
// process trees and closes their connections, then returns ctx's error
// once every handler has returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.doneOnce.Do(func() { close(s.done) })
	s.mu.Lock()
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.closeIdle()
		select {
		case <-done:
			return nil
		case <-tick.C:
		case <-ctx.Done():
			s.abortAll()
			<-done
			return ctx.Err()
		}
	}
}

// Close is Shutdown with no grace: every session is killed now.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func (s *Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.closeIfIdle()
	}
}

func (s *Server) abortAll() {
	s.mu.Lock()
	conns := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.abort()
	}
	s.cancelJobs()
	s.cancelResumable()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *Server) trackListener(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.listeners[ln] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrackListener(ln net.Listener) {
	s.mu.Lock()
	delete(s.listeners, ln)
	s.mu.Unlock()
	s.wg.Done()
}

// hostOS is reported in hello.
func hostOS() string { return runtime.GOOS + "/" + runtime.GOARCH }

// currentUser is the account sessions run as: this process's own, as
// session.Start resolves it (not $USER, which a service manager may leave
// unset and a caller may set to anything). On Windows the DOMAIN\ prefix
// is dropped.
func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		name := u.Username
		if i := strings.LastIndexByte(name, '\\'); i >= 0 {
			name = name[i+1:]
		}
		return name
	}
	return os.Getenv("USER")
}

// ttyGroup is the gid of the "tty" group, which owns terminals, or -1.
func ttyGroup() int {
	g, err := user.LookupGroup("tty")
	if err != nil {
		return -1
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return -1
	}
	return gid
}
