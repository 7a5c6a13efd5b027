package client

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/rexec-dev/rexec/internal/account"
)

// DefaultPort is rexec's TCP port (docs/CLI.md §2).
const DefaultPort = 7022

// Target is one host to connect to, parsed from the command line.
type Target struct {
	User string // from user@; empty means the client's choice (Config.User, else the login name)
	Host string // name or IP literal, without brackets
	Port int
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
	t.Host, t.Port = host, port
	return t, nil
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
