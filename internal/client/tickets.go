package client

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
)

// maxTicketFile bounds what a ticket file may hold; Go's encoded session
// state with one certificate is about 1 KiB.
const maxTicketFile = 64 << 10

// ticketMagic starts every ticket file, so a stray file is never parsed.
const ticketMagic = "rexec-tls-ticket-v1\n"

// ticketStore is a tls.ClientSessionCache holding the one session of one
// (identity, target) pair in a file, so that the next rexec process can
// resume instead of running a full handshake (PROTOCOL.md §1.2).
//
// The file is as secret as a private key: whoever can read it can resume
// as this identity until the daemon restarts, and whoever can write it can
// plant a session naming any host key. It is therefore written 0600 in a
// 0700 directory and ignored unless it passes auth.CheckSecretFile. The
// identity's public key is part of the file name, so `-i other` never
// resumes the session of another key.
type ticketStore struct {
	path string
	// session is what preload found on file, handed to crypto/tls by Get.
	session *tls.ClientSessionState
	// loaded is the modification time of the file Get returned a
	// session from (zero if none): Put skips rewriting a file that young.
	loaded time.Time
}

// ticketRefresh is how long a stored ticket is reused before the file is
// replaced by a newer one. The server issues a ticket on every connection;
// writing each would cost every run a file write for nothing, while a
// crypto/tls server accepts a ticket for 7 days (and forgets all of them
// when it restarts).
const ticketRefresh = time.Hour

// newTicketStore returns the store for identity pub talking to addr
// (host:port as the user named it) under dir.
func newTicketStore(dir string, pub ed25519.PublicKey, addr string) *ticketStore {
	h := sha256.New()
	h.Write(pub)
	h.Write([]byte{0})
	h.Write([]byte(addr))
	return &ticketStore{path: filepath.Join(dir, hex.EncodeToString(h.Sum(nil)[:16]))}
}

// preload reads the stored session, which Get then returns, and reports
// whether there is one. There is none when the file is missing or unusable
// (bad permissions, damaged, from another Go version): the handshake is
// then a full one, and Put replaces the file. The caller needs the answer
// before the handshake starts, to choose the key exchange it offers.
func (s *ticketStore) preload() bool {
	s.session = nil
	ticket, state, mtime, err := s.load()
	if err != nil {
		return false
	}
	st, err := tls.ParseSessionState(state)
	if err != nil {
		return false
	}
	cs, err := tls.NewResumptionState(ticket, st)
	if err != nil {
		return false
	}
	s.session, s.loaded = cs, mtime
	return true
}

// Get returns the session preload found, once.
func (s *ticketStore) Get(string) (*tls.ClientSessionState, bool) {
	cs := s.session
	s.session = nil
	return cs, cs != nil
}

// remove deletes the stored session after the server refused it, so that
// later connections do not offer it again (and pay a second handshake for
// it) until a new ticket is stored.
func (s *ticketStore) remove() {
	s.session, s.loaded = nil, time.Time{}
	_ = os.Remove(s.path)
}

func (s *ticketStore) load() (ticket, state []byte, mtime time.Time, err error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, nil, mtime, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, mtime, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, mtime, errors.New("not a regular file")
	}
	if err := auth.CheckSecretFile(s.path, fi); err != nil {
		return nil, nil, mtime, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxTicketFile+1))
	if err != nil {
		return nil, nil, mtime, err
	}
	ticket, state, err = decodeTicket(data)
	return ticket, state, fi.ModTime(), err
}

// decodeTicket splits a ticket file: magic | uint32 ticket length |
// ticket | encoded session state.
func decodeTicket(data []byte) (ticket, state []byte, err error) {
	if len(data) > maxTicketFile || len(data) < len(ticketMagic)+4 || string(data[:len(ticketMagic)]) != ticketMagic {
		return nil, nil, errors.New("not a ticket file")
	}
	data = data[len(ticketMagic):]
	n := binary.BigEndian.Uint32(data)
	data = data[4:]
	if n == 0 || uint64(n) >= uint64(len(data)) {
		return nil, nil, errors.New("damaged ticket file")
	}
	return data[:n], data[n:], nil
}

// stale tells the store that the session Get returned was not resumed
// (the daemon restarted, or the ticket expired), so Put must replace it.
func (s *ticketStore) stale() { s.loaded = time.Time{} }

// Put stores the session the server just issued (crypto/tls calls it
// when a NewSessionTicket arrives), replacing the file atomically so that
// concurrent rexec processes never see half a ticket. nil removes it.
// Failures are ignored: the next connection is merely a full handshake.
func (s *ticketStore) Put(_ string, cs *tls.ClientSessionState) {
	if cs == nil {
		_ = os.Remove(s.path)
		return
	}
	if age := time.Since(s.loaded); !s.loaded.IsZero() && age >= 0 && age < ticketRefresh {
		return
	}
	ticket, st, err := cs.ResumptionState()
	if err != nil || st == nil || len(ticket) == 0 {
		return
	}
	state, err := st.Bytes()
	if err != nil {
		return
	}
	data := make([]byte, 0, len(ticketMagic)+4+len(ticket)+len(state))
	data = append(data, ticketMagic...)
	data = binary.BigEndian.AppendUint32(data, uint32(len(ticket)))
	data = append(append(data, ticket...), state...)
	_ = s.write(data)
}

func (s *ticketStore) write(data []byte) error {
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".ticket-*") // mode 0600
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr != nil || cerr != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("writing ticket: %w", errors.Join(werr, cerr))
	}
	if err := os.Rename(f.Name(), s.path); err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	return nil
}
