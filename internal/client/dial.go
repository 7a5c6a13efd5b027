// Package client is rexec's client for one host: it connects (TCP, TLS 1.3
// with both keys pinned, hello), then runs requests on the connection and
// reports how each ended as a typed outcome.Outcome (docs/CLI.md §7).
//
// It sits above transport, auth and protocol and below fanout and the CLI.
// It never prints: output goes to the writers the caller passes, and every
// failure is an *Error carrying its outcome.
package client

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transport"
)

// DefaultConnectTimeout bounds TCP connect, TLS handshake and hello when
// Config.ConnectTimeout is zero. The server's own login grace is 20 s; a
// client should give up well before a user loses patience.
const DefaultConnectTimeout = 15 * time.Second

// Config says who we are and whom we trust. Identity is required; the zero
// value of every other field is documented on it.
type Config struct {
	Identity *auth.Identity
	// KnownHosts pins server keys; the zero value knows no host.
	KnownHosts auth.KnownHosts
	// AcceptNew pins an unknown host key without asking (--accept-new).
	AcceptNew bool
	// Confirm, when non-nil, is asked about an unknown host key (a
	// terminal prompt); true pins it. Nil refuses unknown keys unless
	// AcceptNew is set. It is never asked about a changed key.
	Confirm func(host, fingerprint string) (bool, error)
	// ConnectTimeout bounds connect, handshake and hello; zero means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Software is sent in hello, e.g. "rexec/0.1"; zero means "rexec".
	Software string
	// Dialer, when non-nil, replaces net.Dialer (tests, proxies).
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// TicketDir, when set, keeps one TLS session ticket per identity and
	// target in this directory (created 0700), so that the next
	// connection, even from another process, resumes: no signature on
	// either side, which is most of a connection's CPU (PROTOCOL.md
	// §1.2). Both keys are still checked on a resumed connection: the
	// server authorizes the client key against its current
	// authorized_keys and the host key is looked up in KnownHosts. Empty
	// means every connection is a full handshake.
	TicketDir string
	// User is the account asked for when the target names none (-l USER,
	// the client config): explicit. Empty means the local login name, as
	// ssh takes it, which a server serving one account may ignore.
	User string
	// Resume makes Run ask for a resumable session (PROTOCOL.md §9.5)
	// and, when the connection drops, connect again and resume it from
	// the acknowledged offsets, for as long as the server holds it.
	Resume bool
	// Offer are further keys the client can prove besides Identity (agent
	// keys, ECDSA and RSA keys, passphrase-protected keys), offered in the
	// hello in this order (PROTOCOL.md §1.4.1; at most
	// protocol.MaxOfferedKeys). With Offer set, Dial waits for the
	// server's answer instead of pipelining the first request, and proves
	// the one key the server asks for: its Prove runs only then, so a
	// passphrase is asked only for a key the server would accept. With
	// Identity nil the certificate holds a fresh key of this connection
	// alone, which no server authorizes, and no ticket is kept.
	Offer []OfferedKey
	// Aliases are the host aliases of the client configuration
	// (client.toml), applied by Dial to the target's host (HostAlias).
	Aliases map[string]HostAlias
	// PortGiven says the port targets default to was given on the
	// command line (-p): it wins over an alias's port.
	PortGiven bool
}

// OfferedKey is a key the client can prove with a key proof.
type OfferedKey struct {
	// Blob is the public key's SSH wire encoding.
	Blob []byte
	// Name says where the key comes from ("agent: comment", a path), for
	// messages.
	Name string
	// Prove signs data with the key and returns the SSH encoding of the
	// signature (auth.SignProof); it may ask for a passphrase.
	Prove func(data []byte) ([]byte, error)
}

// account is the account to ask t's server for, and whether the user
// named it (user@, then -l or the config) rather than it being the local
// login name.
func (cfg Config) account(t Target) (name string, explicit bool) {
	switch {
	case t.User != "":
		return t.User, true
	case cfg.User != "":
		return cfg.User, true
	}
	return LocalUser(), false
}

// LocalUser is the login name of the user running this process, as ssh
// takes it for the default remote account: the passwd entry of its uid,
// else $USER. It is "" when neither exists.
func LocalUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		name := u.Username
		if i := strings.LastIndexByte(name, '\\'); i >= 0 { // Windows: DOMAIN\name
			name = name[i+1:]
		}
		return name
	}
	return os.Getenv("USER")
}

// Conn is an authenticated connection to one server. Requests run one at a
// time (Run); Close ends it. It is not safe for concurrent Runs.
type Conn struct {
	target Target
	nc     net.Conn
	pc     helloConn
	// readDL is the read deadline a request last set (setReadDeadline),
	// restored after the server's hello was read under its own deadline.
	readDL time.Time
	// The server's hello is read by the first request (awaitHello):
	// helloDL bounds that read as the connect timeout bounded the rest.
	helloOnce sync.Once
	helloErr  error
	helloDL   time.Time
	// Server is the server's hello: its OS, encoding and account. It is
	// set once Ready has returned nil (every request calls it first).
	Server protocol.Hello
	// HostKey is the server's verified public key.
	HostKey ed25519.PublicKey
	// Resumed reports that the TLS handshake resumed an earlier session
	// (Config.TicketDir) instead of running a full one.
	Resumed bool
	// curve is the key exchange the handshake used (tests).
	curve tls.CurveID
	// keepalive is Run's ping interval; zero means keepaliveInterval
	// (tests shorten it).
	keepalive time.Duration
	// cfg is what Dial was given, for redial.
	cfg Config
}

// Dial connects to t, runs the TLS handshake (the server's key is checked
// there) and sends our hello. Every error is an *Error whose Outcome is
// ConnectFailed, HostKeyUnknown, HostKeyMismatch, AuthFailed or
// ProtocolError.
//
// Dial does not wait for the server's hello, which is where a server that
// does not authorize our key says so: the first request is sent right
// behind our hello and reads the answer first (PROTOCOL.md §1.7), so that
// refusal (AuthFailed, Denied) comes back from that request, or from Ready.
func Dial(ctx context.Context, cfg Config, t Target) (*Conn, error) {
	t = cfg.Resolve(t)
	if cfg.Identity == nil {
		if len(cfg.Offer) == 0 {
			return nil, newError(outcome.AuthFailed, t.String(), errors.New("no identity"))
		}
		id, err := auth.GenerateIdentity("rexec connection key")
		if err != nil {
			return nil, newError(outcome.AuthFailed, t.String(), err)
		}
		cfg.Identity, cfg.TicketDir = id, ""
	}
	if len(cfg.Offer) > protocol.MaxOfferedKeys {
		cfg.Offer = cfg.Offer[:protocol.MaxOfferedKeys]
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, connectTimeout(cfg))
	defer cancel()
	var tickets *ticketStore
	if cfg.TicketDir != "" {
		tickets = newTicketStore(cfg.TicketDir, cfg.Identity.Public, t.Addr())
	}
	c, err := connect(ctx, cfg, t, tickets)
	if errors.Is(err, errSlowProof) {
		// The server's login grace ran out while a passphrase was typed;
		// the key is decrypted now, so a second connection proves it at
		// once.
		retry, rcancel := context.WithTimeout(parent, connectTimeout(cfg))
		defer rcancel()
		c, err = connect(retry, cfg, t, tickets)
	}
	if errors.Is(err, errNotResumed) {
		// The ticket was refused (the daemon restarted, or no longer
		// resumes): forget it, so later runs do not offer it, and run the
		// full handshake again with the post-quantum key exchange.
		tickets.remove()
		c, err = connect(ctx, cfg, t, tickets)
	}
	if c != nil {
		c.cfg = cfg
	}
	return c, err
}

// redial connects again to the same target with the same configuration
// (a resumable run whose connection dropped, PROTOCOL.md §9.5).
func (c *Conn) redial(ctx context.Context) (*Conn, error) {
	nc, err := Dial(ctx, c.cfg, c.target)
	if nc != nil {
		nc.keepalive = c.keepalive
	}
	return nc, err
}

// connectTimeout is cfg's connect timeout or the default.
func connectTimeout(cfg Config) time.Duration {
	if cfg.ConnectTimeout > 0 {
		return cfg.ConnectTimeout
	}
	return DefaultConnectTimeout
}

// connect dials and runs the handshake once.
func connect(ctx context.Context, cfg Config, t Target, tickets *ticketStore) (*Conn, error) {
	nc, err := dialTCP(ctx, cfg, t.Addr())
	if err != nil {
		return nil, newError(outcome.ConnectFailed, t.String(), err)
	}
	c, err := handshake(ctx, cfg, t, nc, tickets)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// errNotResumed is a handshake that offered a ticket with the classical
// key exchange only (transport.ResumeCurves) and was not resumed: its keys
// lack the post-quantum share, so Dial discards it before sending
// anything and connects again without the ticket.
var errNotResumed = errors.New("session ticket refused")

func dialTCP(ctx context.Context, cfg Config, addr string) (net.Conn, error) {
	if cfg.Dialer != nil {
		return cfg.Dialer(ctx, "tcp", addr)
	}
	var d net.Dialer
	host, port, err := net.SplitHostPort(addr)
	if err != nil || !isLocalhost(host) {
		return d.DialContext(ctx, "tcp", addr)
	}
	// A localhost name is the loopback address (RFC 6761 §6.3), so it is
	// not looked up: in a fresh process, Go's resolver reading
	// nsswitch.conf, resolv.conf and /etc/hosts is a noticeable share of a
	// one-shot `rexec run localhost -- true` (docs/BENCHMARKS.md, "Figures
	// that used to be in comments"). IPv4 first, then IPv6, as
	// a daemon listening on either is found; the first error is reported,
	// as net.Dial does.
	var first error
	for _, ip := range [...]string{"127.0.0.1", "::1"} {
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip, port))
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// isLocalhost reports whether host is "localhost" or a name under
// ".localhost", in any case, with or without the final dot.
func isLocalhost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// handshake runs TLS and hello on nc under ctx's deadline. With a stored
// ticket it offers only the classical key exchange (transport.ResumeCurves)
// and fails with errNotResumed if the server does not resume.
func handshake(ctx context.Context, cfg Config, t Target, nc net.Conn, tickets *ticketStore) (*Conn, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var hostKey ed25519.PublicKey
	tc, err := transport.ClientConfig(cfg.Identity, func(pub ed25519.PublicKey) error {
		hostKey = pub
		return verifyHost(cfg, t, pub)
	})
	if err != nil {
		return nil, newError(outcome.AuthFailed, t.String(), err)
	}
	offered := false
	if tickets != nil {
		tc.SessionTicketsDisabled = false
		tc.ClientSessionCache = tickets
		if offered = tickets.preload(); offered {
			tc.CurvePreferences = transport.ResumeCurves
		}
	}
	batcher := transport.NewWriteBatcher(nc)
	tlsConn := tls.Client(batcher, tc)
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		return nil, classifyHandshake(t, err)
	}
	if tickets != nil && !tlsConn.ConnectionState().DidResume {
		if offered {
			return nil, errNotResumed
		}
		tickets.stale() // store the ticket this handshake brings
	}
	cs := tlsConn.ConnectionState()
	c := &Conn{target: t, nc: nc, HostKey: hostKey, Resumed: cs.DidResume, curve: cs.CurveID}
	batcher.Batch()
	pc := protocol.NewConn(tlsConn)
	pc.SetFlush(batcher.Flush)
	c.pc = helloConn{Conn: pc, c: c}
	if err := c.sendHello(cfg); err != nil {
		c.pc.Close()
		return nil, err
	}
	if len(cfg.Offer) > 0 {
		// A proof may ask for a passphrase: the connect deadline stops
		// while it is typed and starts again after.
		pause := func() (resume func()) {
			stop()
			_ = nc.SetDeadline(time.Time{})
			return func() { _ = nc.SetDeadline(time.Now().Add(connectTimeout(cfg))) }
		}
		if err := c.proveOffered(cfg, cs, pause); err != nil {
			c.pc.Close()
			return nil, err
		}
	}
	c.helloDL, _ = ctx.Deadline()
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

// verifyHost applies the trust rules of docs/CLI.md §5 to the server's key.
func verifyHost(cfg Config, t Target, pub ed25519.PublicKey) error {
	err := cfg.KnownHosts.Check(t.Host, t.Port, pub)
	var unknown *auth.UnknownHostError
	if !errors.As(err, &unknown) {
		return err
	}
	ok := cfg.AcceptNew
	if !ok && cfg.Confirm != nil {
		var cerr error
		if ok, cerr = cfg.Confirm(t.String(), auth.Fingerprint(pub)); cerr != nil {
			return cerr
		}
		if !ok {
			return &declinedError{fingerprint: unknown.Got}
		}
	}
	if !ok {
		return err
	}
	if err := cfg.KnownHosts.Add([]string{t.Addr()}, pub); err != nil {
		return fmt.Errorf("pinning host key: %w", err)
	}
	return nil
}

// classifyHandshake maps a failed TLS handshake to an outcome. The server
// checks our key only after the handshake, so a refusal there shows up in
// hello; a failure here is the host key, the network or a non-rexec peer.
func classifyHandshake(t Target, err error) error {
	var unknown *auth.UnknownHostError
	var changed *auth.HostKeyChangedError
	var declined *declinedError
	switch {
	case errors.As(err, &declined):
		return newError(outcome.HostKeyUnknown, t.String(), fmt.Errorf(
			"host key %s not accepted: you answered no, so nothing was sent (check the fingerprint, "+
				"then answer yes or run `rexec trust %s`)", declined.fingerprint, t.String()))
	case errors.As(err, &unknown):
		return newError(outcome.HostKeyUnknown, t.String(), fmt.Errorf(
			"unknown host key %s; not connecting without a terminal to confirm it "+
				"(use --accept-new or `rexec trust %s` to pin it)", unknown.Got, t.String()))
	case errors.As(err, &changed):
		return newError(outcome.HostKeyMismatch, t.String(), changed)
	case errors.Is(err, auth.ErrHostKeyRevoked):
		return newError(outcome.HostKeyMismatch, t.String(), err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		// the server closed before the handshake completed: its pre-auth
		// limits or penalties, which it does not explain to the peer
		return newError(outcome.ConnectFailed, t.String(), fmt.Errorf("the server closed the connection during the TLS handshake "+
			"(it refuses an address for a while after failed logins, and past its connection limits): %w", err))
	case isNetErr(err):
		return newError(outcome.ConnectFailed, t.String(), fmt.Errorf("TLS handshake: %w", err))
	}
	return newError(outcome.ProtocolError, t.String(), fmt.Errorf("TLS handshake: %w", err))
}

// declinedError is an unknown host key the user refused at the prompt.
type declinedError struct{ fingerprint string }

func (e *declinedError) Error() string { return "host key " + e.fingerprint + " not accepted" }

func isNetErr(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, context.DeadlineExceeded)
}

// sendHello sends our hello. The server's answer is not awaited here: the
// first request follows at once and reads it (awaitHello), so that a
// one-shot command costs one round trip less (PROTOCOL.md §1.7).
func (c *Conn) sendHello(cfg Config) error {
	sw := cfg.Software
	if sw == "" {
		sw = "rexec"
	}
	user, explicit := cfg.account(c.target)
	h := protocol.Hello{Version: protocol.Version, Software: sw,
		OS: runtime.GOOS + "/" + runtime.GOARCH, Encoding: "utf-8", User: user, UserExplicit: explicit,
		Features: []string{protocol.FeatureJobs, protocol.FeatureResume}}
	for _, k := range cfg.Offer {
		h.Keys = append(h.Keys, k.Blob)
	}
	if err := c.pc.Conn.Send(h); err != nil {
		return newError(outcome.ConnectionLost, c.target.String(), fmt.Errorf("sending hello: %w", err))
	}
	return nil
}

// Ready waits for the server's answer to our hello: nil once its hello
// arrived, else the *Error of its refusal (AuthFailed for a key it does not
// authorize, Denied, ProtocolError) or of the connection (ConnectionLost).
// Dial does not wait for it, and every request reads it first, so callers
// need Ready only to learn the outcome before sending anything.
func (c *Conn) Ready() error { return c.awaitHello() }

// awaitHello reads the server's hello once, under the connect deadline,
// and restores the read deadline of the request that triggered it.
func (c *Conn) awaitHello() error {
	c.helloOnce.Do(func() {
		_ = c.nc.SetReadDeadline(c.helloDL)
		c.helloErr = c.readHello()
		_ = c.nc.SetReadDeadline(c.readDL)
	})
	return c.helloErr
}

func (c *Conn) readHello() error {
	m, err := c.pc.Conn.Recv()
	if err != nil {
		return c.recvError("waiting for the server's hello", err)
	}
	return c.acceptHello(m)
}

// acceptHello takes m as the server's answer to our hello.
func (c *Conn) acceptHello(m protocol.Message) error {
	switch m := m.(type) {
	case protocol.Hello:
		if m.Version != protocol.Version {
			return newError(outcome.ProtocolError, c.target.String(),
				fmt.Errorf("server speaks protocol version %d, we speak %d", m.Version, protocol.Version))
		}
		c.Server = m
		return nil
	case protocol.Error:
		return c.remoteError(m)
	}
	return newError(outcome.ProtocolError, c.target.String(), fmt.Errorf("expected hello, got %s", m.Type()))
}

// setReadDeadline sets the connection's read deadline and remembers it
// for awaitHello.
func (c *Conn) setReadDeadline(t time.Time) {
	c.readDL = t
	_ = c.nc.SetReadDeadline(t)
}

// helloConn is the protocol connection of a Conn whose Recv reads the
// server's pending hello first, so that every request path (run, stat,
// put, get) handles it without knowing about it. A refusal comes back as
// Recv's error: the *Error with its outcome, which recvError keeps.
type helloConn struct {
	*protocol.Conn
	c *Conn
}

// Send sends m. When that fails, the server may have closed the
// connection after refusing our hello (a key it does not authorize): its
// answer, read now, is the better error, and is returned instead.
func (h helloConn) Send(m protocol.Message) error {
	err := h.Conn.Send(m)
	if err != nil {
		if herr := h.c.awaitHello(); herr != nil {
			return herr
		}
	}
	return err
}

// Recv returns the next message after the server's hello.
func (h helloConn) Recv() (protocol.Message, error) {
	if err := h.c.awaitHello(); err != nil {
		return nil, err
	}
	return h.Conn.Recv()
}

// remoteError turns an error frame into an *Error with its outcome.
func (c *Conn) remoteError(m protocol.Error) error {
	re := &protocol.RemoteError{Code: m.Code, Message: m.Message}
	o := outcome.ProtocolError
	switch m.Code {
	case protocol.CodeUnauthorized, protocol.CodeRevoked:
		o = outcome.AuthFailed
	case protocol.CodeDenied, protocol.CodeUnknownJob:
		o = outcome.Denied
	case protocol.CodeUnavailable:
		o = outcome.ConnectionLost
	}
	return newError(o, c.target.String(), re)
}

// sendError classifies a failed Send: the server's refusal of our hello
// (helloConn.Send) as it is, anything else as a lost connection.
func (c *Conn) sendError(what string, err error) error {
	var known *Error
	if errors.As(err, &known) {
		return err
	}
	return newError(outcome.ConnectionLost, c.target.String(), fmt.Errorf("%s: %w", what, err))
}

// recvError classifies a failed Recv: a decoding error is the server's
// fault (ProtocolError), anything else is a lost connection.
func (c *Conn) recvError(what string, err error) error {
	var known *Error
	if errors.As(err, &known) {
		return err // the server's refusal of our hello (helloConn)
	}
	if protocol.CodeFor(err) != protocol.CodeInternal {
		return newError(outcome.ProtocolError, c.target.String(), fmt.Errorf("%s: %w", what, err))
	}
	return newError(outcome.ConnectionLost, c.target.String(), fmt.Errorf("%s: %w", what, err))
}

// Target returns the host this connection goes to.
func (c *Conn) Target() Target { return c.target }

// Close closes the connection. It is idempotent. A session still running
// on the server is killed there when the connection ends.
func (c *Conn) Close() error { return c.pc.Close() }

// errGotKey stops FetchHostKey's handshake once the server's key is known.
var errGotKey = errors.New("client: host key received")

// FetchHostKey connects to t only far enough to learn the server's host
// key (rexec trust). It presents a throw-away identity and authenticates
// nothing, so it needs no authorization on the server.
func FetchHostKey(ctx context.Context, t Target, timeout time.Duration) (ed25519.PublicKey, error) {
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	id, err := auth.GenerateIdentity("rexec trust")
	if err != nil {
		return nil, err
	}
	nc, err := dialTCP(ctx, Config{}, t.Addr())
	if err != nil {
		return nil, newError(outcome.ConnectFailed, t.String(), err)
	}
	defer nc.Close()
	var key ed25519.PublicKey
	tc, err := transport.ClientConfig(id, func(pub ed25519.PublicKey) error {
		key = pub
		return errGotKey
	})
	if err != nil {
		return nil, err
	}
	err = tls.Client(nc, tc).HandshakeContext(ctx)
	if key != nil {
		return key, nil
	}
	return nil, classifyHandshake(t, err)
}
