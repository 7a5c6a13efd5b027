package client

import (
	"bytes"
	"crypto/tls"
	"fmt"

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
func (c *Conn) proveOffered(cfg Config, cs tls.ConnectionState) error {
	var herr error
	c.helloOnce.Do(func() {
		herr = c.readOffered(cfg, cs)
		c.helloErr = herr
	})
	return herr
}

func (c *Conn) readOffered(cfg Config, cs tls.ConnectionState) error {
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
	sig, err := key.Prove(auth.ProofData(exporter, c.HostKey, cfg.Identity.Public, key.Blob, user))
	if err != nil {
		return newError(outcome.AuthFailed, c.target.String(), fmt.Errorf("%s: %w", key.Name, err))
	}
	if err := c.pc.Conn.Send(protocol.KeyProof{Signature: sig}); err != nil {
		return newError(outcome.ConnectionLost, c.target.String(), fmt.Errorf("sending the key proof: %w", err))
	}
	return c.readHello()
}
