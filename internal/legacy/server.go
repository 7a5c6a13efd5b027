package legacy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Limits and timeouts of Server. Each bounds something a client controls.
const (
	// MaxCommandSize bounds one command. The lesson's server reads 1024
	// bytes; shell one-liners rarely pass a few KiB, and 64 KiB stays far
	// below ARG_MAX, so a longer "command" is a misbehaving client.
	MaxCommandSize = 64 << 10
	// QuietWindow ends a command: after the first bytes, the server keeps
	// reading while more arrive within this window. A client's single send
	// reaches us in one or a few segments microseconds apart, while a human
	// or a lesson client sends the next command only after the reply.
	QuietWindow = 50 * time.Millisecond
	// MaxCommandWait bounds the time from a command's first byte to its
	// last, so a sender trickling a byte per window cannot hold a handler.
	// A command still growing then is refused rather than cut, because a
	// prefix of a command can mean something else entirely.
	MaxCommandWait = 5 * time.Second
	// DefaultIdleTimeout is Server.IdleTimeout when zero: how long a
	// connection may sit between commands, as a prompt loop does while
	// its user thinks.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultCommandTimeout is Server.CommandTimeout when zero: the lesson
	// client has no way to stop a runaway command, so the server does.
	DefaultCommandTimeout = 30 * time.Minute
	// DefaultMaxConns is Server.MaxConns when zero; each connection may run
	// a command, so this bounds processes started by this listener.
	DefaultMaxConns = 64
	// PipeDrainGrace is how long after the command's main process exits
	// its output pipes may stay open (held by a background child such as
	// `sleep 60 &`) before the rest of the tree is killed and the reply
	// sent. The lesson's server would wait forever.
	PipeDrainGrace = 2 * time.Second
	// writeStallTimeout bounds each write of a reply, so a client that
	// stops reading cannot hold the handler, its output and its spool.
	writeStallTimeout = time.Minute
	// acceptBackoffMax caps the pause after a transient Accept error
	// (too many open files), as net/http does.
	acceptBackoffMax = time.Second
)

// Server serves the lesson's protocol. The zero value is ready to use; its
// fields must not change while Serve runs. One Server may Serve several
// listeners at once.
//
// Each command runs as `$SHELL -c command` through internal/session, in the
// daemon user's home directory with stdin at EOF, as its own process tree.
// The reply is sent once the command has exited and both output pipes have
// closed (see PipeDrainGrace), so its size and MD5 are known; output up to
// 4 MiB is held in memory, more is spooled to a temporary file in
// os.TempDir, removed after the reply. Bytes that arrive
// while a command runs are the start of the next command; the end of the
// client's stream (EOF, even a half-close) means it left, and its command's
// tree is killed. Whatever happens, the session is closed, which reaps it.
type Server struct {
	// Logger receives connection, command and exit-status records; nil
	// discards them. Commands are logged (cut to 256 bytes) with their exit
	// status, which the protocol cannot carry to the client.
	Logger *slog.Logger
	// IdleTimeout bounds the wait for a connection's next command; zero
	// means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// CommandTimeout bounds one command's run; zero means
	// DefaultCommandTimeout. The tree is then killed and the output so far
	// sent, followed by a note saying so.
	CommandTimeout time.Duration
	// MaxConns bounds connections served at once; zero means
	// DefaultMaxConns. A connection over the limit is closed at once.
	MaxConns int
}

// Serve accepts connections on ln and serves each in its own goroutine
// until ctx is done (it returns nil) or Accept fails for good (it returns
// that error; errors.Is(err, net.ErrClosed) when ln was closed). It closes
// ln, ends every connection and kills their commands before returning, and
// returns only once every connection goroutine has finished. A client that
// misbehaves loses its connection; the others are unaffected.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer ln.Close()
	s.logger().Warn("legacy protocol listener: unauthenticated plaintext", "addr", ln.Addr().String())
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	var wg sync.WaitGroup
	err := s.acceptLoop(ctx, ln, &wg)
	cancel()
	stop()
	wg.Wait()
	return err
}

// acceptLoop accepts until ctx is done or Accept fails for good, starting
// one goroutine per connection in wg, at most MaxConns at a time.
func (s *Server) acceptLoop(ctx context.Context, ln net.Listener, wg *sync.WaitGroup) error {
	slots := make(chan struct{}, s.maxConns())
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !transientAcceptError(err) {
				return fmt.Errorf("legacy: accept: %w", err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), acceptBackoffMax)
			s.logger().Warn("legacy accept failed; retrying", "err", err, "in", backoff)
			if !sleepCtx(ctx, backoff) {
				return nil
			}
			continue
		}
		backoff = 0
		select {
		case slots <- struct{}{}:
		default:
			s.logger().Warn("legacy connection refused: too many", "remote", nc.RemoteAddr().String(), "max", cap(slots))
			nc.Close()
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			s.serveConn(ctx, nc)
		})
	}
}

// transientAcceptError reports whether Accept may succeed if retried.
func transientAcceptError(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED, syscall.ENOBUFS} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// sleepCtx waits d or until ctx is done; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) idleTimeout() time.Duration {
	return orDefault(s.IdleTimeout, DefaultIdleTimeout)
}

func (s *Server) commandTimeout() time.Duration {
	return orDefault(s.CommandTimeout, DefaultCommandTimeout)
}

func (s *Server) maxConns() int {
	if s.MaxConns <= 0 {
		return DefaultMaxConns
	}
	return s.MaxConns
}

// orDefault returns d, or def when d is zero or negative.
func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// CheckListenAddr reports whether the server may listen on addr
// ("host:port"). Because the protocol has no authentication and no
// encryption, only a loopback host is accepted — an IP in 127.0.0.0/8 or
// ::1, or the name "localhost" — unless allowRemote is true (the CLI's
// --legacy-allow-remote). An empty host (":8081") means every interface and
// is refused likewise. It returns ErrBadAddr or ErrRemoteListen, wrapped.
func CheckListenAddr(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w %q: %v", ErrBadAddr, addr, err)
	}
	if allowRemote || isLoopbackHost(host) {
		return nil
	}
	return fmt.Errorf("%w %q: the legacy protocol is unauthenticated plaintext; allow it explicitly", ErrRemoteListen, addr)
}

// isLoopbackHost reports whether host names the loopback interface.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
