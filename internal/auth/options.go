package auth

import (
	"errors"
	"fmt"
	"strings"
)

// KeyOptions are the authorized_keys options of one key, parsed with the
// syntax of sshd(8) "AUTHORIZED_KEYS FILE FORMAT": a comma-separated list
// with no spaces outside double quotes; option names are case-insensitive;
// values are double-quoted and `\"` stands for a quote (any other
// backslash is kept as is). The zero value means "no restrictions".
//
// Honoured options: command=, from=, environment= (repeatable), no-pty,
// pty, restrict, plus the rexec-specific no-file-transfer, file-transfer
// and allow= (repeatable). OpenSSH forwarding options that have no
// meaning in rexec (no-port-forwarding, no-agent-forwarding,
// no-X11-forwarding, no-user-rc, their positive forms, permitopen=,
// permitlisten=, tunnel=) are accepted and ignored. Any other option,
// including cert-authority, principals=, expiry-time= and verify-required,
// makes the line invalid: a restriction rexec cannot enforce must not be
// silently dropped.
type KeyOptions struct {
	// Command is the forced command (command="..."); HasCommand tells an
	// empty forced command from none.
	Command    string
	HasCommand bool
	// From lists the from="..." patterns; empty means any address. See
	// MatchFrom for the rules.
	From []string
	// NoPTY is set by no-pty, or by restrict unless "pty" follows.
	NoPTY bool
	// NoFileTransfer is set by no-file-transfer, or by restrict,
	// command= or allow= unless the line also says "file-transfer".
	NoFileTransfer bool
	// Restrict records that "restrict" was given.
	Restrict bool
	// Environment holds environment="K=V" values in file order.
	Environment []string
	// Allow is the argv allow-list from allow="glob,..." options; empty
	// means any command. See AllowsArgv for the matching rule.
	Allow []string
}

// errUnknownOption marks an option sshd would reject.
var errUnknownOption = errors.New("unknown option")

// ignoredFlags are OpenSSH options about features rexec does not have.
var ignoredFlags = map[string]bool{
	"no-port-forwarding": true, "port-forwarding": true,
	"no-agent-forwarding": true, "agent-forwarding": true,
	"no-x11-forwarding": true, "x11-forwarding": true,
	"no-user-rc": true, "user-rc": true,
}

// ignoredValues are valued OpenSSH options rexec does not need.
var ignoredValues = map[string]bool{"permitopen": true, "permitlisten": true, "tunnel": true}

// parseOptions parses an option list (the first field of an
// authorized_keys line).
func parseOptions(s string) (KeyOptions, error) {
	var o KeyOptions
	var pty, fileTransfer bool
	for s != "" {
		name, value, hasValue, rest, err := nextOption(s)
		if err != nil {
			return o, err
		}
		if hasValue {
			err = o.setValue(name, value)
		} else {
			err = o.setFlag(name, &pty, &fileTransfer)
		}
		if err != nil {
			return o, err
		}
		s = rest
	}
	if o.Restrict {
		o.NoPTY = o.NoPTY || !pty
	}
	if o.limitsCommands() {
		o.NoFileTransfer = o.NoFileTransfer || !fileTransfer
	}
	return o, nil
}

// limitsCommands reports options that limit what the key may run:
// restrict, a forced command or an allow-list. File requests would go
// around any of them (a download of a key file, an upload over
// authorized_keys), so such a line transfers files only when it says
// "file-transfer" (docs/SECURITY.md, "File requests").
func (o *KeyOptions) limitsCommands() bool {
	return o.Restrict || o.HasCommand || len(o.Allow) > 0
}

// Restricted reports whether the line limits the key in any way rexec
// enforces: restrict, command=, allow=, no-pty or no-file-transfer. The
// server then applies the rule of docs/SECURITY.md to everything the
// client sends besides the command: only accepted environment variables,
// no working directory of the client's choosing. from= limits where a key
// may connect from, not what it may do, and the OpenSSH forwarding
// options name features rexec does not have, so neither counts.
func (o *KeyOptions) Restricted() bool {
	return o.limitsCommands() || o.NoPTY || o.NoFileTransfer
}

// nextOption splits the first option off s: name[="value"] then a comma
// or the end.
func nextOption(s string) (name, value string, hasValue bool, rest string, err error) {
	i := strings.IndexAny(s, "=,")
	if i < 0 {
		return strings.ToLower(s), "", false, "", nil
	}
	name = strings.ToLower(s[:i])
	if name == "" {
		return "", "", false, "", errors.New("empty option")
	}
	if s[i] == ',' {
		return name, "", false, s[i+1:], checkTrailing(s[i+1:])
	}
	value, rest, err = dequote(s[i+1:])
	if err != nil {
		return "", "", false, "", fmt.Errorf("option %s: %w", name, err)
	}
	return name, value, true, rest, nil
}

// dequote reads a double-quoted value at the start of s, as sshd's
// opt_dequote: `\"` is a quote, other characters are literal. It returns
// the value and what follows the comma after it.
func dequote(s string) (value, rest string, err error) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", errors.New("value must be double-quoted")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '"':
			b.WriteByte('"')
			i++
		case s[i] == '"':
			rest, err := afterValue(s[i+1:])
			return b.String(), rest, err
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", errors.New("missing closing quote")
}

// afterValue checks that a value is followed by the end or by a comma and
// another option.
func afterValue(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if s[0] != ',' {
		return "", fmt.Errorf("unexpected %q after quoted value", s[0])
	}
	return s[1:], checkTrailing(s[1:])
}

// checkTrailing rejects a trailing comma (an empty last option).
func checkTrailing(rest string) error {
	if rest == "" {
		return errors.New("trailing comma in options")
	}
	return nil
}

// setFlag applies a valueless option.
func (o *KeyOptions) setFlag(name string, pty, fileTransfer *bool) error {
	switch name {
	case "restrict":
		o.Restrict = true
	case "no-pty":
		o.NoPTY = true
	case "pty":
		*pty = true
	case "no-file-transfer":
		o.NoFileTransfer = true
	case "file-transfer":
		*fileTransfer = true
	default:
		if !ignoredFlags[name] {
			return fmt.Errorf("%w %q", errUnknownOption, printable([]byte(name)))
		}
	}
	return nil
}

// setValue applies a name="value" option.
func (o *KeyOptions) setValue(name, value string) error {
	switch name {
	case "command":
		if o.HasCommand {
			return errors.New(`multiple "command" clauses`)
		}
		o.Command, o.HasCommand = value, true
	case "from":
		return o.setFrom(value)
	case "environment":
		k, _, ok := strings.Cut(value, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t\x00") || strings.ContainsRune(value, 0) {
			return fmt.Errorf("invalid environment %q, want K=V", printable([]byte(value)))
		}
		o.Environment = append(o.Environment, value)
	case "allow":
		return o.addAllow(value)
	default:
		if !ignoredValues[name] {
			return fmt.Errorf("%w %q", errUnknownOption, printable([]byte(name)))
		}
	}
	return nil
}

// setFrom validates and stores a from= pattern list.
func (o *KeyOptions) setFrom(value string) error {
	if o.From != nil {
		return errors.New(`multiple "from" clauses`)
	}
	pats := strings.Split(value, ",")
	for _, p := range pats {
		if err := checkFromPattern(p); err != nil {
			return fmt.Errorf("from=%q: %w", printable([]byte(value)), err)
		}
	}
	o.From = pats
	return nil
}

// addAllow validates and appends allow= globs.
func (o *KeyOptions) addAllow(value string) error {
	globs, err := splitAllow(value)
	if err != nil {
		return fmt.Errorf("allow=%q: %w", printable([]byte(value)), err)
	}
	o.Allow = append(o.Allow, globs...)
	return nil
}
