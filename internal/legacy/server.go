package legacy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/loglimit"
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

// Server serves the lesson's protocol. The zero value is ready to use: it
// serves loopback clients whose socket belongs to the daemon's own uid,
// sends output unchanged and writes no audit records. Its fields must not
// change while Serve runs. One Server may Serve several listeners at once.
//
// Who may connect (docs/SECURITY.md, "The legacy listener"): before
// reading anything, the server finds the uid that owns the client's
// socket in the kernel's socket tables (Linux; elsewhere a loopback
// client is refused). A loopback client whose uid is not in AllowUIDs, or
// cannot be found, is refused; a client from another address must be in
// AllowFrom. Then each command is checked by sniff: one that looks like
// another protocol (a browser's or curl's HTTP request, a TLS ClientHello,
// an SSH banner) is not run, and the connection is closed. Refusals are
// logged (at most refusalLogsPerSecond lines a second) and audited.
//
// Each command runs as `$SHELL -c command` through internal/session, in the
// daemon user's home directory with stdin at EOF, as its own process tree.
// The reply is sent once the command has exited and both output pipes have
// closed (see PipeDrainGrace), so its size and MD5 are known; output up to
// 4 MiB is held in memory, more is spooled to a temporary file in
// os.TempDir, removed after the reply. The reply's header carries the exit
// status (Header.ExitCode, Header.Signal). Bytes that arrive
// while a command runs are the start of the next command; the end of the
// client's stream (EOF, even a half-close) means it left, and its command's
// tree is killed. Whatever happens, the session is closed, which reaps it.
type Server struct {
	// Logger receives connection, command and exit-status records; nil
	// discards them. Commands are logged cut to 256 bytes.
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
	// Audit, when not nil, receives a start record before each command
	// runs and an end record after its reply (kind "legacy"), and one
	// "denied" record for each refused connection or command. The log
	// fails closed: a command whose start record cannot be written is not
	// run, and its connection is closed.
	Audit *audit.Log
	// AllowUIDs are the uids whose client sockets may use the listener;
	// nil means the daemon's own uid (os.Getuid()), and an empty non-nil
	// list allows no loopback client.
	AllowUIDs []int
	// AllowFrom are the non-loopback source prefixes that may connect;
	// empty allows none. Loopback clients are not subject to it (their uid
	// is checked instead).
	AllowFrom []netip.Prefix
	// Encoding is how output is sent: "" or "utf-8", the command's bytes
	// unchanged; "gbk", transcoded from UTF-8 to the GBK that the lesson's
	// client decodes, with '?' for invalid UTF-8 bytes and characters GBK
	// lacks, so that client never fails to decode (the header then says
	// "encoding": "gbk"; md5 and total_size describe the bytes sent).
	Encoding string

	// procRoot is where the socket tables are read: "" means /proc.
	// Tests point it at hand-made tables.
	procRoot string
}

// serving is what one Serve call derives from the Server's fields.
type serving struct {
	policy   policy
	encoding string            // EncodingUTF8 or EncodingGBK
	prelog   *loglimit.Limiter // refusals' log lines
}

// Serve accepts connections on ln and serves each in its own goroutine
// until ctx is done (it returns nil) or Accept fails for good (it returns
// that error; errors.Is(err, net.ErrClosed) when ln was closed). It closes
// ln, ends every connection and kills their commands before returning, and
// returns only once every connection goroutine has finished. A client that
// misbehaves loses its connection; the others are unaffected. A bad
// Encoding is an error wrapping ErrBadEncoding, returned at once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer ln.Close()
	st, err := s.prepare()
	if err != nil {
		return err
	}
	s.logger().Warn("legacy protocol listener: plaintext, authenticated only by the client socket's uid",
		"addr", ln.Addr().String(), "allow_uids", st.policy.uids, "allow_from", st.policy.from,
		"encoding", st.encoding, "audit", s.Audit != nil)
	if !peerUIDSupported {
		s.logger().Warn("legacy: this system cannot tell which user owns a client's socket; every loopback client will be refused",
			"os", runtime.GOOS)
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	var wg sync.WaitGroup
	err = s.acceptLoop(ctx, ln, &wg, st)
	cancel()
	stop()
	wg.Wait()
	return err
}

// prepare checks the fields and fills in their defaults.
func (s *Server) prepare() (*serving, error) {
	enc, err := serverEncoding(s.Encoding)
	if err != nil {
		return nil, err
	}
	uids := s.AllowUIDs
	if uids == nil {
		uids = []int{os.Getuid()}
	}
	return &serving{policy: policy{uids: uids, from: s.AllowFrom}, encoding: enc, prelog: loglimit.New(refusalLogsPerSecond)}, nil
}

// acceptLoop accepts until ctx is done or Accept fails for good, starting
// one goroutine per connection in wg, at most MaxConns at a time.
func (s *Server) acceptLoop(ctx context.Context, ln net.Listener, wg *sync.WaitGroup, st *serving) error {
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
			if ok, suppressed := st.prelog.Allow(); ok {
				s.logger().Warn("legacy connection refused: too many", "remote", nc.RemoteAddr().String(), "max", cap(slots),
					"suppressed", suppressed)
			}
			nc.Close()
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			s.serveConn(ctx, nc, st)
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

// CheckAllowFrom reports whether a listener on addr ("host:port") has
// the source list it needs: a non-loopback listen address serves clients
// of other hosts, whose uid cannot be checked, so their source addresses
// must be listed (the CLI's --legacy-allow-from). It returns
// ErrNoAllowFrom or ErrBadAddr, wrapped.
func CheckAllowFrom(addr string, allowFrom []netip.Prefix) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w %q: %v", ErrBadAddr, addr, err)
	}
	if len(allowFrom) > 0 || isLoopbackHost(host) {
		return nil
	}
	return fmt.Errorf("%w: %q", ErrNoAllowFrom, addr)
}

// isLoopbackHost reports whether host names the loopback interface.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
