package server

import (
	"crypto/ed25519"
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

// authenticate runs the TLS handshake, reads the client's hello, checks
// its key against the authorized_keys files of the account the hello asks
// for, and answers with the server's hello, all under one absolute
// deadline (LoginGrace): a peer cannot extend it by trickling bytes. The
// hello is the one frame read before the key is authorized: it names the
// account whose files decide (PROTOCOL.md §1.7).
func (c *serverConn) authenticate() error {
	start := time.Now()
	if c.adm != nil {
		start = c.adm.accepted
	}
	if err := c.nc.SetDeadline(start.Add(c.s.cfg.LoginGrace)); err != nil {
		return err
	}
	batcher := transport.NewWriteBatcher(c.nc)
	tc := tls.Server(batcher, c.s.tls)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	batcher.Batch() // a frame in TLS records leaves in one write (WriteBatcher)
	c.pc = protocol.NewConn(tc)
	c.pc.SetFlush(batcher.Flush)
	h, err := c.readHello()
	if err == nil {
		err = c.authorize(tc.ConnectionState(), h)
	}
	if err == nil {
		err = c.pc.Send(protocol.Hello{Version: protocol.Version, Software: c.s.cfg.Software,
			OS: hostOS(), Encoding: "utf-8", User: c.acct.name, Features: c.s.features()})
	}
	if err != nil {
		c.pc.Close()
		return err
	}
	return c.nc.SetDeadline(time.Time{})
}

// readHello reads and checks the client's hello; a refusal is sent.
func (c *serverConn) readHello() (protocol.Hello, error) {
	m, err := c.pc.Recv()
	if err != nil {
		return protocol.Hello{}, c.protocolFailure("reading hello", err)
	}
	h, ok := m.(protocol.Hello)
	if !ok {
		c.sendError(protocol.CodeProtocol, "expected hello, got "+m.Type())
		return h, fmt.Errorf("expected hello, got %s", m.Type())
	}
	if h.Version != protocol.Version {
		msg := fmt.Sprintf("protocol version %d not supported (server speaks %d)", h.Version, protocol.Version)
		c.sendError(protocol.CodeUnsupportedVersion, msg)
		return h, errors.New(msg)
	}
	return h, nil
}

// authorize resolves the account the hello asks for and looks the peer's
// certificate key up in that account's authorized_keys files, from this
// address (from=). An unknown account, one that may not log in and a key
// not listed get the same answer, so that a client learns nothing of
// which accounts exist; the log and the audit record say which it was.
func (c *serverConn) authorize(cs tls.ConnectionState, h protocol.Hello) error {
	pub, err := transport.PeerKey(cs)
	if err != nil {
		return err
	}
	fp := auth.Fingerprint(pub)
	refused := unauthorizedError(fmt.Sprintf("key %s is not authorized for %q on this server", fp, h.User))
	a, err := c.s.resolveAccount(h.User, h.UserExplicit)
	var denied errAccountDenied
	switch {
	case errors.As(err, &denied):
		c.sendError(protocol.CodeDenied, denied.Error())
		return denied
	case err != nil:
		c.log.Info("account refused", "user", h.User, "key", fp, "reason", err)
		c.auditRefusedKey(pub, h.User, "account", err.Error())
		return c.refuseKey(refused)
	}
	key, _, err := c.s.lookupKey(a.files, auth.PublicKeyBlob(pub), c.ip)
	if err != nil && len(h.Keys) > 0 {
		offered, perr := c.authorizeOffered(cs, h, a, pub)
		switch {
		case perr != nil:
			return perr // sent: a refused proof, or the protocol broken
		case offered != nil:
			key, err = offered, nil
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, auth.ErrFromRefused):
		c.auditRefusedKey(pub, a.name, "from=", "key not authorized from "+c.remote)
		return c.refuseKey(unauthorizedError(fmt.Sprintf("key %s is not authorized from this address", fp)))
	default:
		c.auditRefusedKey(pub, a.name, "authorized_keys", "key not in the account's authorized_keys ("+err.Error()+")")
		if len(h.Keys) > 0 {
			refused = unauthorizedError(fmt.Sprintf("none of the %d keys offered is authorized for %q on this server", len(h.Keys)+1, h.User))
		}
		return c.refuseKey(refused)
	}
	c.key, c.acct = key, a
	c.account.Store(a)
	c.authKey.Store(key)
	c.log = c.log.With("user", a.name)
	return nil
}

// authorizeOffered looks up the keys the client offered in its hello
// besides its certificate's (PROTOCOL.md §1.4.1), in order, and asks for
// a proof of the first one the account's files authorize: key_ok naming
// it, then the client's key_proof, an SSH signature over this
// connection's TLS exporter, the host key, the certificate key, the
// offered key and the account, which must verify. It returns that key's
// entry; nil and nil when no offered key is authorized; a sent refusal
// when the proof is missing or wrong. Only one key is proven per
// connection.
func (c *serverConn) authorizeOffered(cs tls.ConnectionState, h protocol.Hello, a *sessionAccount, certKey ed25519.PublicKey) (*auth.AuthorizedKey, error) {
	for _, blob := range h.Keys {
		pub, err := auth.ParseOfferedKey(blob)
		if err != nil {
			continue
		}
		key, _, err := c.s.lookupKey(a.files, pub.Marshal(), c.ip)
		if err != nil {
			continue
		}
		if err := c.pc.Send(protocol.KeyOK{Key: blob}); err != nil {
			return nil, err
		}
		m, err := c.pc.Recv()
		if err != nil {
			return nil, c.protocolFailure("reading key_proof", err)
		}
		proof, ok := m.(protocol.KeyProof)
		if !ok {
			c.sendError(protocol.CodeProtocol, "expected key_proof, got "+m.Type())
			return nil, fmt.Errorf("expected key_proof, got %s", m.Type())
		}
		exporter, err := cs.ExportKeyingMaterial(auth.ExporterLabel, nil, auth.ExporterLen)
		if err != nil {
			return nil, err
		}
		data := auth.ProofData(exporter, c.s.cfg.HostKey.Public, certKey, blob, h.User)
		if err := auth.VerifyProof(pub, data, proof.Signature); err != nil {
			c.log.Info("key proof refused", "key", key.Fingerprint(), "err", err)
			c.auditRefusedKey(certKey, a.name, "key proof", key.Fingerprint()+": "+err.Error())
			return nil, c.refuseKey(unauthorizedError(fmt.Sprintf("the proof of key %s is not valid for this connection", key.Fingerprint())))
		}
		return key, nil
	}
	return nil, nil
}

// refuseKey sends a refused key's error and returns it.
func (c *serverConn) refuseKey(e unauthorizedError) error {
	c.sendError(protocol.CodeUnauthorized, string(e))
	return e
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
// still in its account's authorized_keys with the same options, and that
// the account may still log in (docs/SECURITY.md, "Revocation and
// StrictModes"): a removed key, a key whose line changed, any key while
// one of the files fails closed, and an account locked or removed since,
// get the fatal error "revoked", which ends the connection. A client
// reconnects to use a changed line.
func (c *serverConn) reauthorize(m protocol.Message) error {
	fp := c.key.Fingerprint()
	var msg string
	k, _, err := c.s.lookupKey(c.acct.files, c.key.Blob, c.ip)
	switch {
	case errors.Is(err, errFilesFailed):
		msg = "an authorized_keys file of this account is unsafe or unreadable: no key of it is authorized until its owner fixes it"
	case err != nil:
		msg = fmt.Sprintf("key %s is no longer authorized on this server (removed from authorized_keys)", fp)
	case !reflect.DeepEqual(k.Options, c.key.Options):
		msg = fmt.Sprintf("the authorized_keys line of key %s changed; reconnect to use it", fp)
	case !c.acct.own && c.s.stillAdmitted(c.acct) != nil:
		msg = fmt.Sprintf("the account %q may no longer log in on this server", c.acct.name)
	default:
		return nil
	}
	c.log.Info("request refused: key revoked", "key", fp, "request", m.Type(), "reason", msg)
	c.auditRevoked(m, msg)
	c.sendError(protocol.CodeRevoked, msg)
	return errRevoked
}
