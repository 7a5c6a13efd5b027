package client

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// proveOffered reads the server's answer to a hello that offered keys
// (PROTOCOL.md §1.4.1): its hello when the certificate's key sufficed;
// key_ok naming one offered key, which is proven over this connection
// (key_proof) before the server's hello is read; or its refusal. It runs
// under the connect deadline, before Dial returns, so nothing is
// pipelined behind such a hello.
func (c *Conn) proveOffered(cfg Config, cs tls.ConnectionState, pause func() (resume func())) error {
	var herr error
	c.helloOnce.Do(func() {
		herr = c.readOffered(cfg, cs, pause)
		c.helloErr = herr
	})
	return herr
}

// slowProof is how long a proof may take (a passphrase typed) before a
// connection lost right after it is retried once: the server's login
// grace may have run out meanwhile.
const slowProof = 2 * time.Second

// errSlowProof marks a connection lost after a slow proof.
var errSlowProof = errors.New("the connection ended while the key's passphrase was asked")

func (c *Conn) readOffered(cfg Config, cs tls.ConnectionState, pause func() (resume func())) error {
	m, err := c.pc.Conn.Recv()
	if err != nil {
		return c.recvError("waiting for the server's answer", err)
	}
	ok, isKeyOK := m.(protocol.KeyOK)
	if !isKeyOK {
		return c.acceptHello(m)
	}
	var key *OfferedKey
	for i := range cfg.Offer {
		if bytes.Equal(cfg.Offer[i].Blob, ok.Key) {
			key = &cfg.Offer[i]
			break
		}
	}
	if key == nil {
		return newError(outcome.ProtocolError, c.target.String(), fmt.Errorf("the server asked to prove a key this client did not offer"))
	}
	exporter, err := cs.ExportKeyingMaterial(auth.ExporterLabel, nil, auth.ExporterLen)
	if err != nil {
		return newError(outcome.ProtocolError, c.target.String(), err)
	}
	user, _ := cfg.account(c.target)
	resume := pause()
	start := time.Now()
	sig, err := key.Prove(auth.ProofData(exporter, c.HostKey, cfg.Identity.Public, key.Blob, user))
	resume()
	if err != nil {
		return newError(outcome.AuthFailed, c.target.String(), fmt.Errorf("%s: %w", key.Name, err))
	}
	err = c.pc.Conn.Send(protocol.KeyProof{Signature: sig})
	if err == nil {
		err = c.readHello()
	}
	var known *Error
	if err != nil && time.Since(start) > slowProof && (!errors.As(err, &known) || known.Outcome == outcome.ConnectionLost) {
		return fmt.Errorf("%w: %w", errSlowProof, err)
	}
	if err != nil && !errors.As(err, &known) {
		return newError(outcome.ConnectionLost, c.target.String(), fmt.Errorf("sending the key proof: %w", err))
	}
	return err
}
