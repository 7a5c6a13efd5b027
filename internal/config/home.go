// Package config resolves where rexec keeps its files and, for the daemon,
// turns the TOML config file and flags into plain structs. It imports
// nothing internal.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// File names inside the home directory (docs/CLI.md §2).
const (
	IdentityFile       = "id_ed25519"
	KnownHostsFile     = "known_hosts"
	HostKeyFile        = "host_ed25519_key"
	AuthorizedKeysFile = "authorized_keys"
	ConfigFile         = "config.toml"
	// TicketsDir holds the client's TLS session tickets, one file per
	// identity and host, as secret as the identity (mode 0700/0600).
	TicketsDir = "tickets"
	// JobsDir holds the daemon's detached jobs (package jobs): 0700,
	// one directory per job, files 0600.
	JobsDir = "jobs"
)

// HomeEnv overrides the home directory when --home is not given.
const HomeEnv = "REXEC_HOME"

// Home is rexec's per-user directory. The zero value is not usable: call
// ResolveHome.
type Home struct{ Dir string }

// ResolveHome picks the home directory: flag, else $REXEC_HOME, else
// $XDG_CONFIG_HOME/rexec, else ~/.config/rexec. It is created 0700 if
// missing; an existing one is used as it is.
func ResolveHome(flag string) (Home, error) {
	dir, err := homeDir(flag)
	if err != nil {
		return Home{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Home{}, fmt.Errorf("config: creating home %s: %w", dir, err)
	}
	return Home{Dir: dir}, nil
}

func homeDir(flag string) (string, error) {
	if flag != "" {
		return filepath.Abs(flag)
	}
	if d := os.Getenv(HomeEnv); d != "" {
		return filepath.Abs(d)
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "rexec"), nil
	}
	h, err := os.UserHomeDir()
	if err != nil || h == "" {
		return "", errors.New("config: cannot find a home directory: set --home or $REXEC_HOME")
	}
	return filepath.Join(h, ".config", "rexec"), nil
}

// Path returns the path of a file in the home directory.
func (h Home) Path(name string) string { return filepath.Join(h.Dir, name) }
