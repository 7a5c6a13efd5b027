package audit

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// checkpointDomain starts every signed checkpoint message, so that a
// signature made by the host key for anything else (a TLS handshake) can
// never pass for a checkpoint, nor the reverse.
const checkpointDomain = "rexec audit checkpoint v1\x00"

// checkpointMessage is what a checkpoint at seq, whose prev is prev,
// signs: its place in the chain. prev is the SHA-256 of the line before,
// which holds that line's prev, and so on: the signature covers every
// record before the checkpoint.
func checkpointMessage(seq int, prev string) []byte {
	b := make([]byte, 0, len(checkpointDomain)+maxSeqDigits+1+hashLen)
	b = append(b, checkpointDomain...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, 0)
	return append(b, prev...)
}

// Checkpoint appends a checkpoint record signed with key, an ed25519 key
// (the daemon's host key), unless the last record is already a
// checkpoint; it reports whether it wrote one. The signature covers the
// record's seq and prev, so anyone holding the public key can check that
// the records before it are the ones the daemon wrote
// (VerifyOptions.Key). Signing happens under the Log's lock, since the
// position must not move meanwhile; an ed25519 signature is cheap.
//
// A failure to sign leaves the Log as it was; a failure to write fails
// the Log, as for Append.
func (l *Log) Checkpoint(key crypto.Signer) (bool, error) {
	if _, ok := key.Public().(ed25519.PublicKey); !ok {
		return false, fmt.Errorf("audit: checkpoint key is %T, want an ed25519 key", key.Public())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return false, l.err
	}
	if l.seq == l.checkpointed {
		return false, nil
	}
	sig, err := key.Sign(rand.Reader, checkpointMessage(l.seq+1, l.prev), crypto.Hash(0))
	if err != nil {
		return false, fmt.Errorf("audit: signing a checkpoint: %w", err)
	}
	r := Record{Event: EventCheckpoint, Sig: base64.StdEncoding.EncodeToString(sig)}
	if err := l.appendLocked(r); err != nil {
		return false, err
	}
	l.checkpointed = l.seq
	return true, nil
}

// checkCheckpoint checks a checkpoint record's signature with pub; the
// record's seq and prev are already known to be in the chain.
func checkCheckpoint(r Record, pub ed25519.PublicKey) error {
	sig, err := base64.StdEncoding.Strict().DecodeString(r.Sig)
	switch {
	case r.Sig == "":
		return errors.New("checkpoint without a signature")
	case err != nil || len(sig) != ed25519.SignatureSize:
		return errors.New("checkpoint signature is not a base64 ed25519 signature")
	case !ed25519.Verify(pub, checkpointMessage(r.Seq, r.Prev), sig):
		return errors.New("checkpoint signature does not verify with the key " +
			"(the records before it were rewritten, or another key signed it)")
	}
	return nil
}
