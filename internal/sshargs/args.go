// Package sshargs reads OpenSSH's client command line, as ssh(1) documents
// it, so that `rexec ssh` (and the binary invoked as ssh or rexec-ssh) can
// stand in for ssh under rsync, git, scp, sftp, Ansible, pdsh and the other
// tools that take "an ssh-like command" as their transport.
//
// It is a pure parser: words in, an Options value or a *UsageError out.
// It never reads files, the environment or the network; the caller
// (internal/cli) applies the result. Options about what rexec has no use
// for (forwarding, control masters, ciphers, X11) are accepted and listed
// in Options.Ignored, so that -v can say so, and are never fatal; options
// that would send the connection somewhere else (ProxyCommand, ProxyJump,
// -J, -W) are refused, since ignoring them would connect to the wrong
// place. Unknown options and malformed values are a *UsageError, worded
// as ssh words them.
package sshargs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limits on what a command line may hold. They are far above any real
// use and only bound the work a hostile word list can cause.
const (
	// MaxArgs is the most words Parse reads.
	MaxArgs = 4096
	// maxRepeated bounds -i, -o SendEnv and -o SetEnv entries: ssh's own
	// limit on identity files is 100.
	maxRepeated = 100
)

// UsageError is a command line ssh would refuse; Msg is ssh's wording of
// the problem. The caller prints it on one line and exits 255.
type UsageError struct {
	Msg string
}

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, a ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, a...)}
}

// Usage is ssh's synopsis, printed after a UsageError as ssh prints its
// own.
const Usage = `usage: ssh [-46AaCGNnqsTtVvXxYy] [-E log_file] [-e escape_char] [-F configfile]
           [-i identity_file] [-l login_name] [-O ctl_cmd] [-o option] [-p port]
           destination [command [argument ...]]`

// Options is a parsed ssh command line. The zero value of each field is
// "not given".
type Options struct {
	// Host is the destination's host part (an alias the configuration may
	// map to another HostName).
	Host string
	// User is the account: from -l, -o User or user@; "" if none named it.
	User string
	// Port is the port from -p, -o Port or ssh://host:port; 0 if none.
	Port int
	// HostName is -o HostName: the name to connect to for Host.
	HostName string
	// Identities are -i and -o IdentityFile, in order.
	Identities []string
	// IdentitiesOnly is -o IdentitiesOnly=yes: only the named identities,
	// not the agent's other keys.
	IdentitiesOnly bool
	// ConfigFile is -F.
	ConfigFile string
	// ConnectTimeout is -o ConnectTimeout (seconds in ssh's syntax).
	ConnectTimeout time.Duration
	// BatchMode is -o BatchMode=yes: never prompt.
	BatchMode bool
	// StrictHostKeyChecking is -o StrictHostKeyChecking, normalised to
	// "yes", "no", "ask" or "accept-new" ("off" is "no").
	StrictHostKeyChecking string
	// KnownHostsFiles is -o UserKnownHostsFile.
	KnownHostsFiles []string
	// ServerAliveInterval and ServerAliveCountMax are the keepalive
	// options.
	ServerAliveInterval time.Duration
	ServerAliveCountMax int
	// SendEnv are the patterns of local variables to send.
	SendEnv []string
	// SetEnv are NAME=VALUE pairs to set remotely.
	SetEnv []string
	// RequestTTY is -o RequestTTY ("no", "yes", "force", "auto"), or from
	// -T ("no"), -t ("yes") and -tt ("force"); "" is ssh's default, auto.
	RequestTTY string
	// StdinNull is -n: the remote command's stdin is empty.
	StdinNull bool
	// NoCommand is -N: connect and run nothing.
	NoCommand bool
	// Subsystem is -s: Command[0] names a subsystem.
	Subsystem bool
	// PrintConfig is -G: print the resolved configuration and exit.
	PrintConfig bool
	// Control is -O's command: "check", "exit", "stop", ... .
	Control string
	// Verbose counts -v; Quiet is -q.
	Verbose int
	Quiet   bool
	// LogFile is -E: debug and error messages go there.
	LogFile string
	// EscapeChar is -e ("none", a character, or ^X); "" is "~".
	EscapeChar string
	// AddressFamily is "inet" (-4), "inet6" (-6) or "" (any).
	AddressFamily string
	// Version is -V.
	Version bool
	// Command is the remote command's words, to be joined with spaces as
	// ssh joins them.
	Command []string
	// Ignored names each option accepted and not acted on (forwarding,
	// X11, control masters, ciphers, ...), for -v.
	Ignored []string
}

// optionsWithArg are ssh's option letters that take an argument; flags
// are the ones that do not. Together they are ssh's getopt string.
const (
	optionsWithArg = "bceiJlmoOpQSwWBDEFILPR"
	flags          = "1246afgknqstvxyACGKMNTVXY"
)

// Parse reads args (the words after the program name) as ssh does:
// options in getopt's syntax (clustered flags, an argument in the same
// word or the next), the destination, then more options until the first
// word that is not one (ssh reads options after the destination too),
// and the remote command. "--" ends the options.
func Parse(args []string) (*Options, error) {
	if len(args) > MaxArgs {
		return nil, usagef("too many arguments (%d; at most %d)", len(args), MaxArgs)
	}
	o := &Options{}
	p := parser{o: o}
	i := 0
	for i < len(args) {
		a := args[i]
		if a == "--" {
			i++
			if o.Host == "" {
				if i == len(args) {
					break
				}
				if err := p.destination(args[i]); err != nil {
					return nil, err
				}
				i++
			}
			o.Command = append(o.Command, args[i:]...)
			i = len(args)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			if o.Host != "" {
				break // the command starts here
			}
			if err := p.destination(a); err != nil {
				return nil, err
			}
			i++
			continue
		}
		n, err := p.cluster(args, i)
		if err != nil {
			return nil, err
		}
		i += n
	}
	if i < len(args) {
		o.Command = append(o.Command, args[i:]...)
	}
	if o.Host == "" && !o.Version {
		return nil, usagef("no destination given")
	}
	if o.Subsystem && len(o.Command) == 0 {
		return nil, usagef("-s needs the subsystem's name after the destination")
	}
	if o.NoCommand && len(o.Command) > 0 && !o.Subsystem {
		return nil, usagef("cannot execute command with -N")
	}
	return o, nil
}

// parser holds what Parse needs beyond Options: how ssh's precedence
// rules saw each setting (-l and -p replace, -o and user@ fill in).
type parser struct {
	o        *Options
	ttyCount int
	portSet  bool
}

// cluster reads one word of options (and the next word when the last
// option in it takes an argument), returning how many words it used.
func (p *parser) cluster(args []string, i int) (int, error) {
	word := args[i]
	for j := 1; j < len(word); j++ {
		c := word[j]
		switch {
		case strings.IndexByte(optionsWithArg, c) >= 0:
			arg := word[j+1:]
			used := 1
			if arg == "" {
				if i+1 >= len(args) {
					return 0, usagef("option requires an argument -- %c", c)
				}
				arg, used = args[i+1], 2
			}
			return used, p.withArg(c, arg)
		case strings.IndexByte(flags, c) >= 0:
			p.flag(c)
		default:
			return 0, usagef("unknown option -- %s", printable(string(c)))
		}
	}
	return 1, nil
}

// flag applies an option letter without an argument.
func (p *parser) flag(c byte) {
	o := p.o
	switch c {
	case '4':
		o.AddressFamily = "inet"
	case '6':
		o.AddressFamily = "inet6"
	case 'n':
		o.StdinNull = true
	case 'N':
		o.NoCommand = true
	case 'q':
		o.Quiet = true
	case 's':
		o.Subsystem = true
	case 't':
		p.ttyCount++
		o.RequestTTY = "yes"
		if p.ttyCount > 1 {
			o.RequestTTY = "force"
		}
	case 'T':
		o.RequestTTY = "no"
	case 'v':
		o.Verbose++
	case 'G':
		o.PrintConfig = true
	case 'V':
		o.Version = true
	case 'x', 'a':
		// X11 and agent forwarding off: what rexec does anyway.
	case 'A':
		o.Ignored = append(o.Ignored, "-A (agent forwarding: rexec never exposes the agent to the server)")
	case 'X', 'Y':
		o.Ignored = append(o.Ignored, "-"+string(c)+" (X11 forwarding)")
	case 'C':
		o.Ignored = append(o.Ignored, "-C (compression)")
	default: // 1 2 f g k y K M: protocol 1/2, background, gateway, GSSAPI, syslog, master
		if c == 'f' {
			o.Ignored = append(o.Ignored, "-f (go to background: rexec stays in the foreground)")
			return
		}
		o.Ignored = append(o.Ignored, "-"+string(c))
	}
}

// withArg applies an option letter with its argument.
func (p *parser) withArg(c byte, arg string) error {
	o := p.o
	switch c {
	case 'l':
		o.User = arg
	case 'p':
		port, err := parsePort(arg)
		if err != nil {
			return usagef("Bad port '%s'", printable(arg))
		}
		o.Port, p.portSet = port, true
	case 'i':
		if len(o.Identities) >= maxRepeated {
			return usagef("too many identity files specified (max %d)", maxRepeated)
		}
		o.Identities = append(o.Identities, arg)
	case 'F':
		o.ConfigFile = arg
	case 'o':
		return p.option(arg)
	case 'E':
		o.LogFile = arg
	case 'e':
		if err := checkEscape(arg); err != nil {
			return err
		}
		o.EscapeChar = arg
	case 'O':
		switch arg {
		case "check", "forward", "cancel", "exit", "stop", "proxy":
			o.Control = arg
		default:
			return usagef("Invalid multiplex command.")
		}
	case 'J':
		return usagef("-J %s: jump hosts are not supported by rexec ssh (connect to the host directly)", printable(arg))
	case 'W':
		return usagef("-W %s: stdio forwarding is not supported by rexec ssh", printable(arg))
	case 'Q':
		return usagef("-Q: rexec ssh has no algorithm lists to query")
	default: // b c m B D I L P R S w: bind address, ciphers, MACs, forwardings, control path, tunnel
		o.Ignored = append(o.Ignored, "-"+string(c)+" "+printable(arg))
	}
	return nil
}

// destination reads [user@]host or ssh://[user@]host[:port].
func (p *parser) destination(d string) error {
	o := p.o
	host := d
	port := 0
	if rest, ok := strings.CutPrefix(d, "ssh://"); ok {
		rest = strings.TrimSuffix(rest, "/")
		if strings.Contains(rest, "/") {
			return usagef("invalid URI: %s", printable(d))
		}
		host = rest
		if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.HasSuffix(rest, "]") {
			n, err := parsePort(rest[i+1:])
			if err != nil {
				return usagef("Bad port '%s'", printable(rest[i+1:]))
			}
			host, port = rest[:i], n
		}
	}
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		user := host[:i]
		if user == "" {
			return usagef("%s", strings.SplitN(Usage, "\n", 2)[0])
		}
		if o.User == "" {
			o.User = user
		}
		host = host[i+1:]
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if err := checkHost(host); err != nil {
		return err
	}
	o.Host = host
	if port != 0 && !p.portSet {
		o.Port = port
	}
	return nil
}

// checkHost refuses a host name no resolver would accept, as ssh does
// before it reads any configuration.
func checkHost(h string) error {
	if h == "" {
		return usagef("no destination given")
	}
	if h[0] == '-' || strings.ContainsFunc(h, func(r rune) bool {
		return r <= ' ' || r == 0x7f || strings.ContainsRune("'\"`$;&|<>()\\/*?{}!", r)
	}) {
		return usagef("hostname contains invalid characters: %s", printable(h))
	}
	return nil
}

// parsePort reads a port number 1..65535.
func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return n, nil
}

// checkEscape accepts what ssh's -e accepts: "none", one character, or
// ^ and a character.
func checkEscape(s string) error {
	switch {
	case s == "none", len(s) == 1, len(s) == 2 && s[0] == '^':
		return nil
	}
	return usagef("Bad escape character '%s'.", printable(s))
}

// printable keeps untrusted text on one line in an error message.
func printable(s string) string {
	const maxLen = 80
	if len(s) > maxLen {
		s = s[:maxLen] + "..."
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
