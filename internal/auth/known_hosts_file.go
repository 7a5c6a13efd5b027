package auth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"

	"golang.org/x/crypto/ssh"
)

// The known_hosts format (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT"), as
// rexec reads it. Per line, after blanks and '#' comment lines:
//
//	[@revoked|@cert-authority] hosts keytype base64-key [comment]
//
// hosts is either a comma-separated list of patterns, each a name or
// address ("[name]:port" for a port other than 22) with '*' and '?'
// wildcards and a leading '!' for negation, or one hashed entry
// "|1|base64(salt)|base64(HMAC-SHA1(salt, name))".
//
// Where OpenSSH and golang.org/x/crypto/ssh/knownhosts (the reader rexec
// used before this one) differ, rexec keeps knownhosts' decisions so that
// no existing file changes meaning; TestKnownHostsMatchesOracle and
// FuzzKnownHosts hold the two together. Those decisions are: patterns are
// matched byte for byte and case-sensitively (Check lower-cases the host
// it is given, so patterns written in lower case, as Add writes them,
// match); "name:port" without brackets is read as that name and port; a
// '*' at the end of a pattern matches one or more bytes; and lines whose
// key is of another type count when deciding whether a host is known.
// The one deliberate difference: a @cert-authority line never accepts a
// key (rexec has no certificates; knownhosts accepted a plain host key
// equal to the CA key), though, as before, it makes its hosts known, so a
// host under a CA line with any other key is refused as changed, not
// offered as new.
const (
	markerRevoked = "@revoked"
	markerCA      = "@cert-authority"
	// hashedMagic starts a hashed host entry; "1" is the only hash type.
	hashedMagic = "|1|"
	// maxKnownHostsSize bounds what a known_hosts file may hold, checked
	// while reading: 16 MiB is over 150,000 ed25519 lines, far beyond any
	// kept file, and parsing it takes tens of milliseconds, not minutes.
	maxKnownHostsSize = 16 << 20
	// maxKnownHostsLine bounds one line with its newline. An RSA-16384
	// key line is under 3 KiB; 64 KiB was also the limit of the reader
	// rexec used before, so no file readable then is refused now.
	maxKnownHostsLine = 64 << 10
)

var errKnownHostsLine = errors.New("not a known_hosts line")

// hostKeyDB is a parsed known_hosts file. It is immutable once built, so
// one instance may serve concurrent Checks.
type hostKeyDB struct {
	entries []hostEntry
	// revoked maps the plain wire encoding of each @revoked key to the
	// last line revoking it.
	revoked map[string]int
}

// hostEntry is one line that is neither blank, a comment nor @revoked.
type hostEntry struct {
	line int
	// ca marks a @cert-authority line: it makes its hosts known but never
	// accepts a key.
	ca bool
	// hashed is set for a "|1|" entry, patterns otherwise.
	hashed   *hashedHost
	patterns []hostPattern
	// key is the canonical wire encoding of the line's key, of any type.
	key []byte
}

// hostPattern is one element of a host list.
type hostPattern struct {
	negate     bool
	host, port string
}

// hashedHost is a "|1|salt|hash" entry.
type hashedHost struct {
	salt, sum []byte
}

// parseKnownHosts parses the content of a known_hosts file. Lines that
// cannot be read are skipped, as ssh(1) skips them, but a file with bad
// lines and no good one is an error naming the first bad line: it is most
// likely not a known_hosts file, and trusting nothing from it silently
// would turn every host into an unknown one. A line of
// maxKnownHostsLine bytes or more is an error wherever it is.
func parseKnownHosts(data []byte) (*hostKeyDB, error) {
	db := &hostKeyDB{revoked: map[string]int{}}
	valid, firstBad := 0, 0
	var firstErr error
	for n := 1; len(data) > 0; n++ {
		line, rest, _ := bytes.Cut(data, []byte("\n"))
		data = rest
		if len(line) >= maxKnownHostsLine {
			return nil, fmt.Errorf("line %d is longer than %d bytes", n, maxKnownHostsLine-1)
		}
		s := strings.Trim(strings.TrimSuffix(string(line), "\r"), " \t")
		if s == "" || s[0] == '#' {
			continue
		}
		if err := db.addLine(s, n); err != nil {
			if firstErr == nil {
				firstBad, firstErr = n, err
			}
			continue
		}
		valid++
	}
	if valid == 0 && firstErr != nil {
		return nil, fmt.Errorf("no valid entries (line %d: %w)", firstBad, firstErr)
	}
	return db, nil
}

// addLine parses one trimmed, non-comment line and adds it to db.
func (db *hostKeyDB) addLine(s string, n int) error {
	marker, rest := "", s
	if w, next := nextField(s); w == markerRevoked || w == markerCA {
		marker, rest = w, next
	}
	hosts, rest := nextField(rest)
	if strings.HasPrefix(hosts, "@") {
		return fmt.Errorf("%w: unknown or repeated marker", errKnownHostsLine)
	}
	keyType, rest := nextField(rest)
	b64, _ := nextField(rest)
	if rest == "" {
		return fmt.Errorf("%w: want [marker] hosts keytype key [comment]", errKnownHostsLine)
	}
	blob, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return fmt.Errorf("%w: bad base64 key", errKnownHostsLine)
	}
	key, err := parseAnyPublicKey(blob)
	if err != nil {
		return fmt.Errorf("%w: %w", errKnownHostsLine, err)
	}
	if key.typ != keyType {
		return fmt.Errorf("%w: key of type %q on a %q line", errKnownHostsLine, printable([]byte(key.typ)), printable([]byte(keyType)))
	}
	if marker == markerRevoked {
		db.revoked[string(key.plain)] = n
		return nil
	}
	e := hostEntry{line: n, ca: marker == markerCA, key: key.wire}
	if strings.HasPrefix(hosts, "|") {
		e.hashed, err = parseHashedHost(hosts)
	} else {
		e.patterns, err = parseHostPatterns(hosts)
	}
	if err != nil {
		return err
	}
	db.entries = append(db.entries, e)
	return nil
}

// parseHashedHost parses "|1|base64(salt)|base64(hash)". The lengths are
// not checked: a hash of the wrong length simply never matches.
func parseHashedHost(field string) (*hashedHost, error) {
	parts := strings.Split(field, "|")
	if len(parts) != 4 || !strings.HasPrefix(field, hashedMagic) {
		return nil, fmt.Errorf("%w: bad hashed host entry", errKnownHostsLine)
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[2])
	sum, err2 := base64.StdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: bad base64 in hashed host entry", errKnownHostsLine)
	}
	return &hashedHost{salt: salt, sum: sum}, nil
}

// parseHostPatterns parses a comma-separated host pattern list; empty
// elements are skipped.
func parseHostPatterns(field string) ([]hostPattern, error) {
	var ps []hostPattern
	for p := range strings.SplitSeq(field, ",") {
		if p == "" {
			continue
		}
		var hp hostPattern
		p, hp.negate = strings.CutPrefix(p, "!")
		if p == "" {
			return nil, fmt.Errorf("%w: '!' without a host", errKnownHostsLine)
		}
		var err error
		if hp.host, hp.port, err = net.SplitHostPort(p); err != nil {
			if p[0] == '[' {
				return nil, fmt.Errorf("%w: bad [host]:port pattern", errKnownHostsLine)
			}
			hp.host, hp.port = p, "22"
		}
		ps = append(ps, hp)
	}
	return ps, nil
}

// lookup finds the entries for host and port (as net.SplitHostPort
// returns them) in file order. It reports found when one of them holds
// blob, the presented key's wire encoding; otherwise want lists every
// entry for the host, empty when the host is unknown.
func (db *hostKeyDB) lookup(host, port string, blob []byte) (want []*hostEntry, found bool) {
	// The name a hashed entry hashes: bare for port 22, as ssh(1) does.
	hashName := host
	if port != "22" {
		hashName = "[" + host + "]:" + port
	}
	for i := range db.entries {
		e := &db.entries[i]
		if !e.matches(host, port, hashName) {
			continue
		}
		if !e.ca && bytes.Equal(e.key, blob) {
			return nil, true
		}
		want = append(want, e)
	}
	return want, false
}

// matches reports whether the entry's host field covers host:port.
func (e *hostEntry) matches(host, port, hashName string) bool {
	if e.hashed != nil {
		return hashedMatches(e.hashed, hashName)
	}
	matched := false
	for _, p := range e.patterns {
		if p.port != port || !hostGlob(p.host, host) {
			continue
		}
		if p.negate {
			return false
		}
		matched = true
	}
	return matched
}

// hostGlob matches a host pattern the way knownhosts did: byte by byte,
// '?' one byte, '*' any run of bytes, except that a pattern matches an
// empty host only if it is empty itself and a trailing '*' needs at least
// one byte ("a*" does not match "a"). That is ordinary globbing of the
// host minus its last byte when the pattern ends in '*'.
func hostGlob(pat, host string) bool {
	if host == "" {
		return pat == ""
	}
	if strings.HasSuffix(pat, "*") {
		host = host[:len(host)-1]
	}
	return wildcardMatch(pat, host, globSyntax{bytewise: true})
}

// parsedKey is a public key blob of any type x/crypto/ssh parses.
type parsedKey struct {
	// typ is the key type name the blob starts with.
	typ string
	// wire is the canonical encoding, as x/crypto/ssh marshals it.
	wire []byte
	// plain is wire for a key, and the certified key's wire for a
	// certificate: what a @revoked line revokes.
	plain []byte
}

// parseAnyPublicKey parses a public key blob of any type x/crypto/ssh's
// ParsePublicKey accepts (a known_hosts line with a key of another type
// than rexec's still makes its host known, so that a host pinned with an
// RSA key is reported as changed, not new). Trailing bytes are an error.
func parseAnyPublicKey(blob []byte) (parsedKey, error) {
	pub, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return parsedKey{}, err
	}
	k := parsedKey{typ: pub.Type(), wire: pub.Marshal()}
	k.plain = k.wire
	if c, ok := pub.(*ssh.Certificate); ok {
		k.plain = c.Key.Marshal()
	}
	return k, nil
}
