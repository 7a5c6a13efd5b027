package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/kevinburke/ssh_config"
)

// The client's configuration (docs/CLI.md §11.2): client.toml in
// the rexec home names hosts, as ~/.ssh/config's Host blocks do:
//
//	[hosts.web]
//	hostname = "web1.example.org"
//	user = "deploy"
//	port = 7022
//	identity = "~/.ssh/id_deploy"
//	connect_timeout = "5s"
//
// For a host it does not name, HostName, User and IdentityFile may come
// from OpenSSH's client configuration (~/.ssh/config, or ssh's -F file);
// never its Port, which is ssh's port, not rexec's.

// ClientConfigFile is the client's configuration file in the home.
const ClientConfigFile = "client.toml"

// maxClientFile bounds client.toml and ~/.ssh/config: hand-kept files of
// a few hundred hosts are tens of KiB.
const maxClientFile = 1 << 20

// ClientHost is one host alias of client.toml. A zero field is not set.
type ClientHost struct {
	HostName       string        `toml:"hostname"`
	User           string        `toml:"user"`
	Port           int           `toml:"port"`
	Identity       string        `toml:"identity"`
	ConnectTimeout time.Duration `toml:"connect_timeout"`
}

// ClientFile is client.toml.
type ClientFile struct {
	Hosts map[string]ClientHost `toml:"hosts"`
}

// ErrClientFile is wrapped by every error of LoadClientFile.
var ErrClientFile = errors.New("config: bad client config")

// LoadClientFile reads client.toml at path; a missing file is an empty
// configuration. Unknown keys, bare numbers for connect_timeout, and
// ports out of range are refused with the file's name.
func LoadClientFile(path string) (ClientFile, error) {
	data, err := readBounded(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ClientFile{}, nil
	}
	if err != nil {
		return ClientFile{}, fmt.Errorf("%w: %w", ErrClientFile, err)
	}
	var f ClientFile
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return ClientFile{}, fmt.Errorf("%w: %s: %w", ErrClientFile, path, err)
	}
	if undec := md.Undecoded(); len(undec) > 0 {
		keys := make([]string, len(undec))
		for i, k := range undec {
			keys[i] = k.String()
		}
		return ClientFile{}, fmt.Errorf("%w: %s: unknown keys: %s", ErrClientFile, path, strings.Join(keys, ", "))
	}
	for name, h := range f.Hosts {
		if md.IsDefined("hosts", name, "connect_timeout") && md.Type("hosts", name, "connect_timeout") != "String" {
			return ClientFile{}, fmt.Errorf("%w: %s: hosts.%s.connect_timeout: want a duration string such as \"5s\"", ErrClientFile, path, name)
		}
		if h.Port < 0 || h.Port > 65535 || h.ConnectTimeout < 0 {
			return ClientFile{}, fmt.Errorf("%w: %s: hosts.%s: port or connect_timeout out of range", ErrClientFile, path, name)
		}
	}
	return f, nil
}

// SSHHost is what OpenSSH's client configuration says of a host: the
// settings rexec takes from it.
type SSHHost struct {
	HostName   string
	User       string
	Identities []string
}

// LoadSSHConfig reads an OpenSSH client configuration file (ssh_config(5),
// with github.com/kevinburke/ssh_config) and returns what it says of
// alias: HostName, User and IdentityFile, with ~ expanded; Port is never
// read. A missing file says nothing.
func LoadSSHConfig(path, alias string) (SSHHost, error) {
	data, err := readBounded(path)
	if errors.Is(err, fs.ErrNotExist) {
		return SSHHost{}, nil
	}
	if err != nil {
		return SSHHost{}, err
	}
	cfg, err := ssh_config.Decode(bytes.NewReader(data))
	if err != nil {
		return SSHHost{}, fmt.Errorf("%s: %w", path, err)
	}
	var h SSHHost
	if h.HostName, err = cfg.Get(alias, "HostName"); err != nil {
		return SSHHost{}, fmt.Errorf("%s: %w", path, err)
	}
	if h.User, err = cfg.Get(alias, "User"); err != nil {
		return SSHHost{}, fmt.Errorf("%s: %w", path, err)
	}
	ids, err := cfg.GetAll(alias, "IdentityFile")
	if err != nil {
		return SSHHost{}, fmt.Errorf("%s: %w", path, err)
	}
	for _, id := range ids {
		h.Identities = append(h.Identities, ExpandTilde(id))
	}
	h.HostName = strings.ReplaceAll(h.HostName, "%h", alias)
	return h, nil
}

// ExpandTilde replaces a leading ~/ with the user's home directory.
func ExpandTilde(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return home + "/" + rest
		}
	}
	return p
}

// readBounded reads at most maxClientFile bytes of path.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxClientFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxClientFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxClientFile)
	}
	return data, nil
}
