package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// authorized_keys files (docs/SECURITY.md, "Revocation and StrictModes",
// "Accounts"): each file an account's keys come from is read when first
// needed and again whenever it, or a directory StrictModes checks above
// it, changes; every request is authorized against the files as they
// are, and a watcher ends the connections of removed keys while
// connections are open.

// keyFile is one authorized_keys file of an account.
type keyFile struct {
	path  string
	modes auth.StrictModes
	// admin marks a file the administrator owns: only such files may let
	// root in under permit_root admin-keys.
	admin bool
}

// keyState is what the server last read of one file. A file that fails
// StrictModes or cannot be read has err set and no keys: it authorizes
// nobody until it is fixed (fail closed).
type keyState struct {
	version string
	keys    *auth.AuthorizedKeys
	err     error
}

// Reload re-reads every authorized_keys file the server knows (SIGHUP)
// and ends the connections of keys they no longer list, killing their
// sessions. It returns the error of the daemon's own file, if that one
// cannot be trusted.
func (s *Server) Reload() error {
	err := s.reloadAll()
	s.endRevoked()
	return err
}

// reloadAll re-reads the daemon's own files and every file read before.
func (s *Server) reloadAll() error {
	s.mu.Lock()
	files := make([]keyFile, 0, len(s.keyFiles))
	for _, f := range s.keyFiles {
		files = append(files, f)
	}
	s.mu.Unlock()
	for _, f := range files {
		s.readKeys(f, true)
	}
	return s.reload()
}

// reload reads the daemon's own authorized_keys, and reports whether it
// can be trusted: at start an unsafe own file refuses to start.
func (s *Server) reload() error {
	own := s.ownAccount().files[0]
	if _, err := s.readKeys(own, true); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// readKeys returns the keys of f, reading the file again when its
// version changed (or when force is set). A change between trusted and
// not is logged once.
func (s *Server) readKeys(f keyFile, force bool) (*auth.AuthorizedKeys, error) {
	version := f.modes.Version(f.path)
	s.mu.Lock()
	st := s.keyStates[f.path]
	s.mu.Unlock()
	if st != nil && st.version == version && !force {
		return st.keys, st.err
	}
	keys, warnings, err := auth.LoadAuthorizedKeys(f.path, f.modes)
	if errors.Is(err, os.ErrNotExist) {
		keys, err = &auth.AuthorizedKeys{}, nil
	}
	s.mu.Lock()
	prev := s.keyStates[f.path]
	s.keyStates[f.path] = &keyState{version: version, keys: keys, err: err}
	s.keyFiles[f.path] = f
	s.keysGen++
	s.mu.Unlock()
	s.logKeyState(f.path, prev, err, warnings)
	return keys, err
}

// logKeyState logs a file turning untrusted, trusted again, and its
// warnings (lines skipped), each once per change.
func (s *Server) logKeyState(path string, prev *keyState, err error, warnings []string) {
	var prevErr error
	if prev != nil {
		prevErr = prev.err
	}
	switch {
	case err != nil && (prevErr == nil || prevErr.Error() != err.Error()):
		s.log.Error("authorized_keys is unsafe or unreadable: no key of it is authorized until it is fixed",
			"path", path, "err", err)
	case err == nil && prevErr != nil:
		s.log.Info("authorized_keys is readable and safe again: its keys are authorized", "path", path)
	}
	if err == nil {
		for _, w := range warnings {
			s.log.Warn("authorized_keys", "path", path, "problem", w)
		}
	}
}

// errFilesFailed is a key not found while one of its account's files
// could not be trusted: it may be there, so it is refused as "unsafe",
// not as "removed".
var errFilesFailed = errors.New("an authorized_keys file is unsafe or unreadable")

// lookupKey finds pub in the files, in order, with from= applied to ip.
// It returns the entry and the file it came from; auth.ErrFromRefused
// when only from= refused it; errFilesFailed when it is in no trusted
// file and some file failed closed; auth.ErrNotAuthorized otherwise.
func (s *Server) lookupKey(files []keyFile, pub []byte, ip net.IP) (*auth.AuthorizedKey, keyFile, error) {
	failed, fromRefused := false, false
	for _, f := range files {
		keys, err := s.readKeys(f, false)
		if err != nil {
			failed = true
			continue
		}
		k, err := keys.LookupBlob(pub, ip)
		switch {
		case err == nil:
			return k, f, nil
		case errors.Is(err, auth.ErrFromRefused):
			fromRefused = true
		}
	}
	switch {
	case fromRefused:
		return nil, keyFile{}, auth.ErrFromRefused
	case failed:
		return nil, keyFile{}, errFilesFailed
	}
	return nil, keyFile{}, auth.ErrNotAuthorized
}

// keysWatchInterval is how often, while connections are open, the watcher
// looks for changed authorized_keys files: a removed key loses its
// connections within this time even without a SIGHUP.
const keysWatchInterval = time.Second

// watchKeys runs while the server has connections (newConn starts it): it
// re-reads the files of the connected accounts when they changed and
// ends the connections of keys no longer listed.
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
		for _, f := range s.watchedFiles() {
			s.readKeys(f, false)
		}
		if g := s.generation(); g != swept {
			swept = g
			s.endRevoked()
		}
	}
}

// watchedFiles are the files of the accounts of open connections.
func (s *Server) watchedFiles() []keyFile {
	seen := map[string]bool{}
	var files []keyFile
	for _, c := range s.connections() {
		a := c.account.Load()
		if a == nil {
			continue
		}
		for _, f := range a.files {
			if !seen[f.path] {
				seen[f.path] = true
				files = append(files, f)
			}
		}
	}
	return files
}

// connections is a snapshot of the open connections.
func (s *Server) connections() []*serverConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	conns := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
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

// endRevoked ends the connections whose key their account's files no
// longer list (or no longer admit from the connection's address). While
// one of those files fails closed nothing is ended: the key is unknown,
// not removed, and requests are refused meanwhile.
func (s *Server) endRevoked() {
	for _, c := range s.connections() {
		k, a := c.authKey.Load(), c.account.Load()
		if k == nil || a == nil {
			continue // not authenticated yet: its authorization reads the new files
		}
		_, _, err := s.lookupKey(a.files, k.Blob, c.ip)
		if err == nil || errors.Is(err, errFilesFailed) {
			continue
		}
		fp := k.Fingerprint()
		c.log.Info("key removed from authorized_keys: ending its connection", "key", fp, "user", a.name)
		c.sendError(protocol.CodeRevoked, fmt.Sprintf(
			"key %s is no longer authorized on this server (removed from authorized_keys)", fp))
		c.abortWith(errRevoked)
	}
}
