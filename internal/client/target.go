package client

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/rexec-dev/rexec/internal/account"
)

// DefaultPort is rexec's TCP port (docs/CLI.md §2).
const DefaultPort = 7022

// Target is one host to connect to, parsed from the command line.
type Target struct {
	User string // from user@; empty means the client's choice (Config.User, else the login name)
	Host string // name or IP literal, without brackets
	Port int
	// PortGiven says the port was written in the target (host:port): a
	// host alias's port (Config.Aliases) does not replace it.
	PortGiven bool
	// aliased marks a target its alias was applied to: a redial does not
	// look the resolved name up again.
	aliased bool
}

// Addr returns host:port for net.Dial.
func (t Target) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// String is the target as a user would write it (without user@).
func (t Target) String() string {
	if t.Port == DefaultPort {
		return t.Host
	}
	return t.Addr()
}

// ParseTarget parses name, name:port, [v6]:port, a bare IPv6 address, each
// optionally preceded by user@. defaultPort applies when none is given.
func ParseTarget(s string, defaultPort int) (Target, error) {
	var t Target
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		t.User, s = s[:i], s[i+1:]
		if err := CheckUser(t.User); err != nil {
			return t, err
		}
	}
	host, port, err := splitHostPort(s, defaultPort)
	if err != nil {
		return t, err
	}
	if host == "" || strings.ContainsAny(host, " /\\\x00") {
		return t, fmt.Errorf("invalid host %q", s)
	}
	t.Host, t.Port, t.PortGiven = host, port, hasPort(s)
	return t, nil
}

// hasPort reports whether s names a port (name:port, [v6]:port).
func hasPort(s string) bool {
	if strings.HasPrefix(s, "[") {
		return !strings.HasSuffix(s, "]")
	}
	return strings.Count(s, ":") == 1
}

// HostAlias is what the client configuration (docs/CLI.md §11.2,
// client.toml) says of a host name, as a Host block of ~/.ssh/config
// does: the name to connect to, the account, the port and the connect
// timeout. A zero field says nothing.
type HostAlias struct {
	HostName       string
	User           string
	Port           int
	ConnectTimeout time.Duration
}

// Resolve applies the alias of t's host, if cfg has one, under the
// command line's precedence: user@ and -l (Config.User) over the alias's
// user, a port in the target or -p (Config.PortGiven) over its port, and
// --connect-timeout when it differs from the default. Dial calls it;
// commands that use a target without dialing (rexec trust) call it
// themselves.
func (cfg *Config) Resolve(t Target) Target {
	a, ok := cfg.Aliases[t.Host]
	if !ok || t.aliased {
		return t
	}
	t.aliased = true
	if a.HostName != "" {
		t.Host = a.HostName
	}
	if t.User == "" && cfg.User == "" {
		t.User = a.User
	}
	if a.Port != 0 && !t.PortGiven && !cfg.PortGiven {
		t.Port = a.Port
	}
	if a.ConnectTimeout > 0 && (cfg.ConnectTimeout == 0 || cfg.ConnectTimeout == DefaultConnectTimeout) {
		cfg.ConnectTimeout = a.ConnectTimeout
	}
	return t
}

func splitHostPort(s string, defaultPort int) (string, int, error) {
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1 {
		if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
			return s[1 : len(s)-1], defaultPort, nil
		}
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return "", 0, fmt.Errorf("invalid host %q: %v", s, err)
		}
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return "", 0, fmt.Errorf("invalid port %q in %q", p, s)
		}
		return h, port, nil
	}
	return s, defaultPort, nil // a name, or an IPv6 literal without port
}

// CheckUser refuses an account name no system has (account.ValidName)
// before anything is sent: a clear error instead of a refusal the server
// must word like any other (docs/SECURITY.md, "Accounts").
func CheckUser(name string) error {
	if err := account.ValidName(name); err != nil {
		return fmt.Errorf("invalid user %q: %w", name, err)
	}
	return nil
}
