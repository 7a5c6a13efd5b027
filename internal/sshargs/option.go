package sshargs

import (
	"strconv"
	"strings"
	"time"
)

// maxConnectTimeout bounds -o ConnectTimeout: a day is far past any
// useful wait, and keeps the seconds-to-duration conversion exact.
const maxConnectTimeout = 24 * 60 * 60

// ignoredKeywords are ssh_config keywords rexec accepts and does not act
// on: forwarding, control masters, algorithms, other authentication
// methods, logging and host-key housekeeping. Each is said under -v.
// Keys are lower case, as keywords are matched.
var ignoredKeywords = setOf(
	"addkeystoagent", "addressfamily", "bindaddress", "bindinterface",
	"canonicaldomains", "canonicalizefallbacklocal", "canonicalizehostname", "canonicalizemaxdots",
	"canonicalizepermittedcnames", "casignaturealgorithms", "certificatefile", "challengeresponseauthentication",
	"channeltimeout", "checkhostip", "ciphers", "clearallforwardings", "compression", "connectionattempts",
	"controlmaster", "controlpath", "controlpersist", "dynamicforward", "enableescapecommandline",
	"enablesshkeysign", "escapechar", "exitonforwardfailure", "fingerprinthash", "forkafterauthentication",
	"forwardagent", "forwardx11", "forwardx11timeout", "forwardx11trusted", "gatewayports",
	"globalknownhostsfile", "gssapiauthentication", "gssapidelegatecredentials", "hashknownhosts",
	"hostbasedacceptedalgorithms", "hostbasedauthentication", "hostbasedkeytypes", "hostkeyalgorithms",
	"hostkeyalias", "identityagent", "ignoreunknown", "ipqos", "kbdinteractiveauthentication",
	"kbdinteractivedevices", "kexalgorithms", "knownhostscommand", "localcommand", "localforward", "loglevel",
	"logverbose", "macs", "nohostauthenticationforlocalhost", "numberofpasswordprompts",
	"obscurekeystroketiming", "passwordauthentication", "permitlocalcommand", "permitremoteopen",
	"pkcs11provider", "preferredauthentications", "proxyusefdpass", "pubkeyacceptedalgorithms",
	"pubkeyacceptedkeytypes", "pubkeyauthentication", "rekeylimit", "remoteforward", "requiredrsasize",
	"revokedhostkeys", "securitykeyprovider", "sessiontype", "stdinnull", "streamlocalbindmask",
	"streamlocalbindunlink", "syslogfacility", "tcpkeepalive", "tunnel", "tunneldevice", "updatehostkeys",
	"useprivilegedport", "verifyhostkeydns", "visualhostkey", "xauthlocation",
	"remotecommand", "warnweakcrypto", "refuseconnection", "versionaddendum",
)

// setOf makes a set of names.
func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// option applies one -o argument: "Keyword=Value" or "Keyword Value"
// (blanks around '=' allowed), the keyword in any case. As in ssh, the
// first value given for a keyword wins over later -o's; -l and -p given
// on the command line replace it.
func (p *parser) option(arg string) error {
	key, value, err := splitOption(arg)
	if err != nil {
		return err
	}
	o := p.o
	bad := func() error {
		return usagef("command-line line 0: unsupported option \"%s\" value \"%s\"", printable(key), printable(value))
	}
	switch lk := strings.ToLower(key); lk {
	case "port":
		n, err := parsePort(value)
		if err != nil {
			return usagef("command-line line 0: Badly formatted port number.")
		}
		if !p.portSet && o.Port == 0 {
			o.Port = n
		}
	case "user":
		if o.User == "" {
			o.User = value
		}
	case "hostname":
		if o.HostName == "" {
			if err := checkHost(value); err != nil {
				return err
			}
			o.HostName = value
		}
	case "identityfile":
		if len(o.Identities) >= maxRepeated {
			return usagef("too many identity files specified (max %d)", maxRepeated)
		}
		o.Identities = append(o.Identities, value)
	case "identitiesonly":
		b, ok := yesNo(value)
		if !ok {
			return bad()
		}
		o.IdentitiesOnly = b
	case "connecttimeout":
		if strings.EqualFold(value, "none") {
			return nil
		}
		d, ok := seconds(value, maxConnectTimeout)
		if !ok {
			return usagef("command-line line 0: invalid time value.")
		}
		if o.ConnectTimeout == 0 {
			o.ConnectTimeout = d
		}
	case "batchmode":
		b, ok := yesNo(value)
		if !ok {
			return bad()
		}
		o.BatchMode = o.BatchMode || b
	case "stricthostkeychecking":
		v := strings.ToLower(value)
		switch v {
		case "yes", "no", "ask", "accept-new", "off":
		default:
			return bad()
		}
		if v == "off" {
			v = "no"
		}
		if o.StrictHostKeyChecking == "" {
			o.StrictHostKeyChecking = v
		}
	case "userknownhostsfile":
		if len(o.KnownHostsFiles) == 0 {
			o.KnownHostsFiles = strings.Fields(value)
		}
	case "serveraliveinterval":
		d, ok := seconds(value, maxConnectTimeout)
		if !ok {
			return usagef("command-line line 0: invalid time value.")
		}
		if o.ServerAliveInterval == 0 {
			o.ServerAliveInterval = d
		}
	case "serveralivecountmax":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 || n > 1000 {
			return bad()
		}
		if o.ServerAliveCountMax == 0 {
			o.ServerAliveCountMax = n
		}
	case "sendenv":
		for _, pat := range strings.Fields(value) {
			if len(o.SendEnv) >= maxRepeated {
				return usagef("command-line line 0: too many send env.")
			}
			if strings.ContainsAny(pat, "=") {
				return usagef("command-line line 0: Invalid environment name.")
			}
			o.SendEnv = append(o.SendEnv, pat)
		}
	case "setenv":
		words, ok := splitQuoted(value)
		if !ok {
			return bad()
		}
		for _, kv := range words {
			if k, _, found := strings.Cut(kv, "="); !found || k == "" {
				return usagef("command-line line 0: Invalid environment SetEnv.")
			}
			if len(o.SetEnv) >= maxRepeated {
				return usagef("command-line line 0: too many SetEnv.")
			}
			o.SetEnv = append(o.SetEnv, kv)
		}
	case "requesttty":
		v := strings.ToLower(value)
		switch v {
		case "no", "yes", "force", "auto":
		default:
			return bad()
		}
		if o.RequestTTY == "" {
			o.RequestTTY = v
		}
	case "proxycommand", "proxyjump":
		if strings.EqualFold(value, "none") {
			return nil
		}
		return usagef("%s is not supported by rexec ssh (it connects to the host directly)", key)
	default:
		if !ignoredKeywords[lk] {
			return usagef("command-line line 0: Bad configuration option: %s", printable(strings.ToLower(key)))
		}
		o.Ignored = append(o.Ignored, "-o "+printable(key)+"="+printable(value))
	}
	return nil
}

// splitOption splits "Keyword=Value", "Keyword Value" or
// "Keyword = Value", and strips one pair of double quotes around the
// value.
func splitOption(arg string) (key, value string, err error) {
	s := strings.TrimLeft(arg, " \t")
	i := strings.IndexAny(s, " \t=")
	if i <= 0 {
		return "", "", usagef("command-line line 0: missing argument.")
	}
	key, rest := s[:i], strings.TrimLeft(s[i:], " \t")
	rest, _ = strings.CutPrefix(rest, "=")
	value = strings.TrimSpace(rest)
	if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
		value = value[1 : len(value)-1]
	}
	if value == "" {
		return "", "", usagef("command-line line 0: missing argument.")
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return "", "", usagef("command-line line 0: Bad configuration option: %s", printable(key))
		}
	}
	return key, value, nil
}

// yesNo reads ssh's booleans.
func yesNo(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "yes", "true":
		return true, true
	case "no", "false":
		return false, true
	}
	return false, false
}

// seconds reads a time in ssh's syntax: seconds, or a number followed by
// s, m, h, d or w, several such parts added up (1h30m). Zero is allowed.
func seconds(v string, max int) (time.Duration, bool) {
	total := 0
	for v != "" {
		i := 0
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		if i == 0 || i > 9 {
			return 0, false
		}
		n, _ := strconv.Atoi(v[:i])
		v = v[i:]
		unit := 1
		if v != "" {
			switch v[0] {
			case 's', 'S':
			case 'm', 'M':
				unit = 60
			case 'h', 'H':
				unit = 3600
			case 'd', 'D':
				unit = 86400
			case 'w', 'W':
				unit = 604800
			default:
				return 0, false
			}
			v = v[1:]
		}
		total += n * unit
		if total > max {
			return 0, false
		}
	}
	return time.Duration(total) * time.Second, true
}

// splitQuoted splits SetEnv's value into words: blanks separate, double
// quotes group ("NAME=a b").
func splitQuoted(s string) ([]string, bool) {
	var words []string
	var cur strings.Builder
	in, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, in = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quoted {
		return nil, false
	}
	if in {
		words = append(words, cur.String())
	}
	return words, true
}
