package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strconv"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/config"
)

// prepareHome loads or creates the host key. On the very first run, a
// home with neither a host key nor authorized_keys, it first creates the
// local user's identity if missing (with comment, or "rexec@HOSTNAME")
// and authorizes it (the README's zero-config set-up). Never later: a
// regenerated host key, or an authorized_keys the user emptied or
// deleted, must not silently grant that identity again
// (docs/SECURITY.md, "Process hygiene").
func prepareHome(h config.Home, log *slog.Logger, comment string) (*auth.Identity, error) {
	first, err := firstRun(h)
	if err != nil {
		return nil, err
	}
	if first {
		// Before the host key: should this fail, the next start is
		// still a first run and tries again.
		if comment == "" {
			comment = "rexec@" + hostname()
		}
		if err := authorizeOwnIdentity(h, log, comment); err != nil {
			return nil, err
		}
	}
	hostKey, created, err := auth.EnsureIdentity(h.Path(config.HostKeyFile), "rexec-host@"+hostname())
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	if created {
		log.Info("created host key", "path", h.Path(config.HostKeyFile), "fingerprint", auth.Fingerprint(hostKey.Public))
		if !first {
			log.Info("not the first run: the local identity is not authorized automatically (rexec authorize)",
				"authorized_keys", h.Path(config.AuthorizedKeysFile))
		}
	}
	return hostKey, nil
}

// firstRun reports whether the home has neither a host key nor an
// authorized_keys file (a symbolic link counts as a file).
func firstRun(h config.Home) (bool, error) {
	for _, name := range []string{config.HostKeyFile, config.AuthorizedKeysFile} {
		_, err := os.Lstat(h.Path(name))
		if err == nil {
			return false, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("looking for %s: %w", name, err)
		}
	}
	return true, nil
}

// authorizeOwnIdentity is the zero-config first run: the local user's
// identity is created if missing and authorized on this daemon.
func authorizeOwnIdentity(h config.Home, log *slog.Logger, comment string) error {
	id, created, err := auth.EnsureIdentity(h.Path(config.IdentityFile), comment)
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if created {
		log.Info("created your identity", "path", h.Path(config.IdentityFile), "fingerprint", auth.Fingerprint(id.Public))
	}
	if _, err := auth.AppendAuthorizedKey(h.Path(config.AuthorizedKeysFile), id.Public, id.Comment); err != nil {
		return fmt.Errorf("authorizing your identity: %w", err)
	}
	return nil
}

// pinOwnHostKey pins the daemon's key in the local known_hosts for its
// listen addresses and localhost, where nothing is pinned yet. The key was
// read from this machine's disk, so this is no leap of faith; a different
// key already pinned is left alone (and the client will say so).
func pinOwnHostKey(h config.Home, id *auth.Identity, lns []net.Listener, log *slog.Logger) {
	kh := auth.KnownHosts{Path: h.Path(config.KnownHostsFile)}
	for _, ln := range lns {
		ta, ok := ln.Addr().(*net.TCPAddr)
		if !ok {
			continue
		}
		for _, host := range pinNames(ta.IP) {
			err := kh.Check(host, ta.Port, id.Public)
			var unknown *auth.UnknownHostError
			if !errors.As(err, &unknown) {
				continue
			}
			addr := net.JoinHostPort(host, strconv.Itoa(ta.Port))
			if err := kh.Add([]string{addr}, id.Public); err != nil {
				log.Warn("could not pin own host key", "addr", addr, "err", err)
			}
		}
	}
}

// pinNames are the names a local client will use for a listen address.
func pinNames(ip net.IP) []string {
	switch {
	case ip.IsUnspecified():
		return []string{"localhost", "127.0.0.1", "::1"}
	case ip.IsLoopback():
		return []string{"localhost", ip.String()}
	}
	return []string{ip.String()}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}
