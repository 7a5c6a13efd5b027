package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transport"
)

// Logging in (PROTOCOL.md §1, §4.1; docs/SECURITY.md): the TLS handshake, the
// client key checked against authorized_keys before anything else is
// read, and the hello exchange, all under one absolute deadline; then the
// pre-auth gate's accounting ends, with a penalty for a source that
// failed. Every request after that is authorized again (reauthorize).

// unauthorizedError is a refused client key; its text goes to the client.
type unauthorizedError string

func (e unauthorizedError) Error() string { return string(e) }

// authenticate runs the TLS handshake, the authorized_keys check and the
// hello exchange under one absolute deadline (LoginGrace): a peer cannot
// extend it by trickling bytes.
func (c *serverConn) authenticate() error {
	start := time.Now()
	if c.adm != nil {
		start = c.adm.accepted
	}
	if err := c.nc.SetDeadline(start.Add(c.s.cfg.LoginGrace)); err != nil {
		return err
	}
	tc := tls.Server(c.nc, c.s.tls)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	c.pc = protocol.NewConn(tc)
	if err := c.authorize(tc.ConnectionState()); err != nil {
		c.sendError(protocol.CodeUnauthorized, err.Error())
		c.pc.Close()
		return err
	}
	if err := c.hello(); err != nil {
		c.pc.Close()
		return err
	}
	return c.nc.SetDeadline(time.Time{})
}

// authorize looks the peer's certificate key up in authorized_keys, from
// this address (from=), and records a refusal in the audit log.
func (c *serverConn) authorize(cs tls.ConnectionState) error {
	pub, err := transport.PeerKey(cs)
	if err != nil {
		return err
	}
	key, err := c.s.authorizedKeys().Lookup(pub, c.ip)
	if errors.Is(err, auth.ErrFromRefused) {
		c.auditRefusedKey(pub, "from=", "key not authorized from "+c.remote)
		return unauthorizedError(fmt.Sprintf("key %s is not authorized from this address", auth.Fingerprint(pub)))
	}
	if err != nil {
		c.auditRefusedKey(pub, "authorized_keys", "key not in authorized_keys")
		return unauthorizedError(fmt.Sprintf("key %s is not authorized on this server", auth.Fingerprint(pub)))
	}
	c.key = key
	c.authKey.Store(key)
	return nil
}

// hello reads the client's hello and answers with the server's: the
// version, and the account it asks for, must be this server's.
func (c *serverConn) hello() error {
	m, err := c.pc.Recv()
	if err != nil {
		return c.protocolFailure("reading hello", err)
	}
	h, ok := m.(protocol.Hello)
	if !ok {
		c.sendError(protocol.CodeProtocol, "expected hello, got "+m.Type())
		return fmt.Errorf("expected hello, got %s", m.Type())
	}
	if h.Version != protocol.Version {
		msg := fmt.Sprintf("protocol version %d not supported (server speaks %d)", h.Version, protocol.Version)
		c.sendError(protocol.CodeUnsupportedVersion, msg)
		return errors.New(msg)
	}
	if h.User != "" && h.User != c.s.user {
		msg := fmt.Sprintf("this server runs sessions as %q; user %q is not available", c.s.user, h.User)
		c.sendError(protocol.CodeDenied, msg)
		return errors.New(msg)
	}
	return c.pc.Send(protocol.Hello{Version: protocol.Version, Software: c.s.cfg.Software,
		OS: hostOS(), Encoding: "utf-8", User: c.s.user, Features: c.s.features()})
}

// leaveGate ends the connection's pre-auth accounting and penalises its
// source for a failed authentication (docs/CLI.md §8, like sshd's PerSourcePenalties).
func (c *serverConn) leaveGate(err error) {
	if c.adm == nil {
		return
	}
	c.s.gate.leave(c.adm.src, c.adm.known)
	if err == nil || !c.adm.known {
		return
	}
	kind := penaltyNoAuth
	switch {
	case errors.As(err, new(unauthorizedError)):
		kind = penaltyAuthFail
		c.s.cfg.Metrics.AuthFailed()
	case errors.Is(err, os.ErrDeadlineExceeded):
		kind = penaltyGrace
	}
	c.s.gate.penalize(c.adm.src, kind)
	c.s.cfg.Metrics.SetPenalised(c.s.gate.penalised())
}

// reauthorize checks, before each request, that the connection's key is
// still in authorized_keys with the same options (docs/SECURITY.md,
// "Revocation and StrictModes"): a removed key, a key whose line changed,
// and any key while the file fails closed get the fatal error "revoked",
// which ends the connection. A client reconnects to use a changed line.
func (c *serverConn) reauthorize(m protocol.Message) error {
	fp := auth.Fingerprint(c.key.Key)
	var msg string
	k, err := c.s.authorizedKeys().Lookup(c.key.Key, c.ip)
	switch {
	case err != nil && c.s.keysFailed():
		msg = "this server's authorized_keys is unsafe or unreadable: no key is authorized until its administrator fixes it"
	case err != nil:
		msg = fmt.Sprintf("key %s is no longer authorized on this server (removed from authorized_keys)", fp)
	case !reflect.DeepEqual(k.Options, c.key.Options):
		msg = fmt.Sprintf("the authorized_keys line of key %s changed; reconnect to use it", fp)
	default:
		return nil
	}
	c.log.Info("request refused: key revoked", "key", fp, "request", m.Type(), "reason", msg)
	c.auditRevoked(m, msg)
	c.sendError(protocol.CodeRevoked, msg)
	return errRevoked
}
