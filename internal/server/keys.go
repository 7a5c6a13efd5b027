package server

import (
	"fmt"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// The server's authorized_keys (docs/SECURITY.md, "Revocation and
// StrictModes"): read at New and by Reload, read again whenever the file
// or a directory above it changes, and watched while connections are
// open, so that a removed key loses its connections and every request is
// authorized against the file as it is.

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
