// Package server is the rexec daemon's engine: it accepts connections,
// authenticates both ends (TLS 1.3, pinned ed25519 keys, authorized_keys),
// then serves requests one after another on each connection, running
// commands through package session. Serve and Shutdown follow net/http.
//
// It sits above session, transport, auth and protocol; the CLI wires it.
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
	"strings"
	"sync"
	"time"

	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/metrics"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/session"
	"github.com/rexec-dev/rexec/internal/transport"
)

// Defaults for Config's zero values (docs/CLI.md §8).
const (
	// DefaultLoginGrace is the absolute time from accept to authenticated
	// (TLS handshake and hello), like OpenSSH's LoginGraceTime.
	DefaultLoginGrace = 20 * time.Second
	// DefaultKillGrace is how long a session's tree gets between SIGTERM
	// and SIGKILL when the server ends it.
	DefaultKillGrace = session.DefaultGrace
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("server: closed")

// Config configures a Server. HostKey is required; every other zero value
// means the documented default.
type Config struct {
	HostKey *auth.Identity
	// AuthorizedKeysPath is read at New and by Reload, and again whenever
	// it or a directory above it changes; a missing file authorizes
	// nobody, and so does a file that fails StrictModes (fail closed).
	AuthorizedKeysPath string
	// AcceptEnv lists the client environment variables (patterns with '*'
	// and '?', as sshd's AcceptEnv) that a restricted key may set; nil
	// means DefaultAcceptEnv. Variables in docs/SECURITY.md's never list
	// are refused for such keys whatever this says; an unrestricted key
	// may set any variable. See CheckAcceptEnv.
	AcceptEnv  []string
	Logger     *slog.Logger
	LoginGrace time.Duration
	KillGrace  time.Duration
	// Software is sent in hello, e.g. "rexec/1.0".
	Software string

	// Pre-authentication defences (docs/CLI.md §8). Zero values mean the
	// defaults: DefaultStartups, DefaultPerSourceMax (negative: no
	// per-source cap), and Penalties' documented defaults.
	MaxStartups  Startups
	PerSourceMax int
	Penalties    Penalties

	// KeepaliveInterval is how often an authenticated connection with no
	// session is pinged; a peer that vanished is dropped within 3
	// intervals of its last sign of life, during a session too (default
	// 15 s, so within 45 s; see deadpeer.go). A peer that is alive but
	// does not read keeps its session.
	KeepaliveInterval time.Duration
	// IdleTimeout closes an authenticated connection with no session for
	// this long (default DefaultIdleTimeout).
	IdleTimeout time.Duration
	// MaxSessions bounds sessions running at once on the server (default
	// DefaultMaxSessions); MaxSessionsPerKey per client key (0: no bound).
	MaxSessions       int
	MaxSessionsPerKey int
	// NoResumption stops the server issuing TLS session tickets, so that
	// every connection is a full handshake in which the client signs
	// (PROTOCOL.md §1.2). Resumed connections are authorized against the
	// current authorized_keys all the same; this is for operators who
	// want each connection to prove possession of the key itself.
	NoResumption bool

	// Audit, when non-nil, gets a start and an end record of every session
	// and refusal; a session whose start record cannot be written is
	// refused (fail closed). The caller opens and closes it.
	Audit *audit.Log
	// AuditRedact are the environment names (globs, '*' any run, any
	// case) whose values the audit log holds only as a SHA-256
	// (audit.RedactEnv); empty means audit.DefaultRedact.
	AuditRedact []string
	// Metrics, when non-nil, is updated as connections and sessions come
	// and go; nil costs nothing.
	Metrics *metrics.Metrics

	// uncappedProbes (tests) leaves the kernel's window-probe backoff
	// uncapped, as on Linux before 6.15 (deadpeer.go).
	uncappedProbes bool
}

// Defaults for the after-authentication limits of Config.
const (
	DefaultKeepaliveInterval = 15 * time.Second
	DefaultIdleTimeout       = 30 * time.Minute
	DefaultMaxSessions       = 8192
	// keepaliveMisses is how many intervals of silence drop a peer.
	keepaliveMisses = 3
)

// Server serves rexec connections. Create it with New.
type Server struct {
	cfg  Config
	tls  *tls.Config
	log  *slog.Logger
	user string

	gate    *gate         // pre-auth admission; has its own lock
	freed   chan struct{} // signalled (non-blocking, cap 1) when a connection ends
	prelog  *logLimiter   // rate limit of pre-auth log lines
	running *sessionCount

	done     chan struct{} // closed by Shutdown: background loops end
	doneOnce sync.Once

	mu          sync.Mutex // mu guards the fields below
	keys        *auth.AuthorizedKeys
	keysVersion string // the auth.StrictModes version keys were read at
	keysErr     error  // why the last read failed (no key is authorized), or nil
	keysGen     int    // counts reads, so the watcher knows when to sweep
	watching    bool   // watchKeys is running
	listeners   map[net.Listener]struct{}
	conns       map[*serverConn]struct{}
	closing     bool
	wg          sync.WaitGroup // one per connection handler, per Serve loop, and watchKeys
}

// New validates cfg, loads authorized_keys and builds the TLS config.
func New(cfg Config) (*Server, error) {
	if cfg.HostKey == nil {
		return nil, errors.New("server: no host key")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.LoginGrace <= 0 {
		cfg.LoginGrace = DefaultLoginGrace
	}
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = DefaultKillGrace
	}
	if cfg.Software == "" {
		cfg.Software = "rexec"
	}
	if cfg.KeepaliveInterval <= 0 {
		cfg.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.AcceptEnv == nil {
		cfg.AcceptEnv = DefaultAcceptEnv
	}
	if err := CheckAcceptEnv(cfg.AcceptEnv); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	tc, err := transport.ServerConfig(cfg.HostKey)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	tc.SessionTicketsDisabled = cfg.NoResumption
	s := &Server{cfg: cfg, tls: tc, log: cfg.Logger, user: currentUser(),
		gate:      newGate(cfg.MaxStartups, cfg.PerSourceMax, cfg.Penalties),
		freed:     make(chan struct{}, 1),
		prelog:    &logLimiter{perInterval: preauthLogsPerSecond, interval: time.Second, now: time.Now},
		running:   newSessionCount(cfg.MaxSessions, cfg.MaxSessionsPerKey),
		listeners: map[net.Listener]struct{}{}, conns: map[*serverConn]struct{}{},
		done: make(chan struct{})}
	return s, s.reload()
}

// Reload re-reads authorized_keys (SIGHUP) and ends the connections of
// keys it no longer lists, killing their sessions (docs/SECURITY.md,
// "Revocation and StrictModes"). Between reloads the file is also re-read
// whenever it, or a directory StrictModes checks above it, changes: every
// request is authorized against the file as it is, and a watcher ends the
// connections of removed keys within keysWatchInterval of the change.
//
// A file that fails StrictModes or cannot be read fails closed: no key is
// authorized until it is fixed, which is logged once; the server notices
// the fix by itself. Connections already open stay, but their next
// request is refused.
func (s *Server) Reload() error {
	err := s.reload()
	s.endRevoked()
	return err
}

// reload reads authorized_keys into s.keys, or records why it could not.
func (s *Server) reload() error {
	m := s.strictModes()
	version := m.Version(s.cfg.AuthorizedKeysPath)
	keys, warnings, err := auth.LoadAuthorizedKeys(s.cfg.AuthorizedKeysPath, m)
	s.mu.Lock()
	prevErr := s.keysErr
	s.keys, s.keysVersion, s.keysErr = keys, version, err
	s.keysGen++
	s.mu.Unlock()
	if err != nil {
		if prevErr == nil || prevErr.Error() != err.Error() {
			s.log.Error("authorized_keys is unsafe or unreadable: no key is authorized until it is fixed",
				"path", s.cfg.AuthorizedKeysPath, "err", err)
		}
		return fmt.Errorf("server: %w", err)
	}
	if prevErr != nil {
		s.log.Info("authorized_keys is readable and safe again: its keys are authorized", "path", s.cfg.AuthorizedKeysPath)
	}
	for _, w := range warnings {
		s.log.Warn("authorized_keys", "path", s.cfg.AuthorizedKeysPath, "problem", w)
	}
	return nil
}

// strictModes is the permission rule for the daemon's own authorized_keys:
// its account, its home directory.
func (s *Server) strictModes() auth.StrictModes {
	return auth.StrictModes{UID: -1, Home: homeDir()}
}

// keysWatchInterval is how often, while connections are open, the watcher
// looks for a changed authorized_keys: a removed key loses its
// connections within this time even without a SIGHUP.
const keysWatchInterval = time.Second

// watchKeys runs while the server has connections (newConn starts it): it
// re-reads authorized_keys when it changed and ends the connections of
// keys no longer listed.
func (s *Server) watchKeys() {
	defer s.wg.Done()
	t := time.NewTicker(keysWatchInterval)
	defer t.Stop()
	swept := s.generation()
	for {
		select {
		case <-s.done:
			s.stopWatching()
			return
		case <-t.C:
		}
		if s.stopIfIdle() {
			return
		}
		s.authorizedKeys()
		if g := s.generation(); g != swept {
			swept = g
			s.endRevoked()
		}
	}
}

// stopIfIdle ends the watcher when no connection is left (the next one
// starts it again), and reports whether it did.
func (s *Server) stopIfIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) > 0 && !s.closing {
		return false
	}
	s.watching = false
	return true
}

func (s *Server) stopWatching() {
	s.mu.Lock()
	s.watching = false
	s.mu.Unlock()
}

// startWatchingLocked starts watchKeys unless it runs. s.mu is held.
func (s *Server) startWatchingLocked() {
	if s.watching {
		return
	}
	s.watching = true
	s.wg.Add(1)
	go s.watchKeys()
}

func (s *Server) generation() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keysGen
}

// endRevoked ends the connections whose key the current authorized_keys
// no longer lists (or no longer admits from the connection's address).
// While the file fails closed nothing is ended: the keys are unknown, not
// removed, and requests are refused meanwhile.
func (s *Server) endRevoked() {
	s.mu.Lock()
	keys, failed := s.keys, s.keysErr != nil
	conns := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if failed {
		return
	}
	for _, c := range conns {
		k := c.authKey.Load()
		if k == nil {
			continue // not authenticated yet: its authorization reads the new file
		}
		if _, err := keys.Lookup(k.Key, c.ip); err != nil {
			fp := auth.Fingerprint(k.Key)
			c.log.Info("key removed from authorized_keys: ending its connection", "key", fp)
			c.sendError(protocol.CodeRevoked, fmt.Sprintf(
				"key %s is no longer authorized on this server (removed from authorized_keys)", fp))
			c.abortWith(errRevoked)
		}
	}
}

// Reconfigure applies the limits of cfg that can change while the server
// runs (SIGHUP): MaxStartups, PerSourceMax, Penalties, MaxSessions and
// MaxSessionsPerKey, with the zero values meaning the defaults, as in New.
// Everything else in cfg is ignored: it takes effect only in New.
func (s *Server) Reconfigure(cfg Config) {
	s.gate.reconfigure(cfg.MaxStartups, cfg.PerSourceMax, cfg.Penalties)
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	s.running.setLimits(cfg.MaxSessions, cfg.MaxSessionsPerKey)
}

// authorizedKeys returns the current authorized keys, re-reading the file
// first if it or a directory above it changed; nil (nobody) while the
// file fails closed.
func (s *Server) authorizedKeys() *auth.AuthorizedKeys {
	version := s.strictModes().Version(s.cfg.AuthorizedKeysPath)
	s.mu.Lock()
	changed := version != s.keysVersion
	s.mu.Unlock()
	if changed {
		_ = s.reload() // logged there
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys
}

// keysFailed reports whether authorized_keys currently fails closed.
func (s *Server) keysFailed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keysErr != nil
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
	ok, suppressed := s.prelog.allow()
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
