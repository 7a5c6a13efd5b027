package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Removed says what Remove did to one line of known_hosts: Line is its
// 1-based number; Dropped is true when the whole line went, false when
// only the host's name was taken out of its list.
type Removed struct {
	Line    int
	Dropped bool
}

// Remove forgets the host keys pinned for host and port, as
// `ssh-keygen -R` does: a hashed line for the host goes; from a plain line
// the host's own name ("host" for port 22, "[host]:port" otherwise) is
// taken out of the comma-separated list, and the line goes when no name is
// left. A line that covers the host only through a wildcard or negated
// pattern, and @revoked and @cert-authority lines, are left alone: they
// are the user's own policy. The old file is kept as PATH.old and the new
// one replaces it atomically, mode 0600. A missing file removes nothing.
func (k KnownHosts) Remove(host string, port int) ([]Removed, error) {
	data, err := readKnownHosts(k.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auth: known hosts: %w", err)
	}
	name, err := normalizeAddr(joinHostPort(host, port))
	if err != nil {
		return nil, err
	}
	out, removed := removeHostLines(data, name)
	if len(removed) == 0 {
		return nil, nil
	}
	if err := os.WriteFile(k.Path+".old", data, 0o600); err != nil {
		return nil, fmt.Errorf("auth: known hosts: keeping the old file: %w", err)
	}
	tmp := k.Path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return nil, fmt.Errorf("auth: known hosts: %w", err)
	}
	if err := os.Rename(tmp, k.Path); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("auth: known hosts: %w", err)
	}
	knownHostsCache.Delete(k.Path)
	return removed, nil
}

// removeHostLines returns data without name (in known_hosts form) and
// what it changed, line by line.
func removeHostLines(data []byte, name string) ([]byte, []Removed) {
	var out bytes.Buffer
	var removed []Removed
	lines := bytes.SplitAfter(data, []byte("\n"))
	for i, raw := range lines {
		kept, changed, dropped := removeFromLine(string(raw), name)
		if changed {
			removed = append(removed, Removed{Line: i + 1, Dropped: dropped})
		}
		out.WriteString(kept)
	}
	return out.Bytes(), removed
}

// removeFromLine takes name out of one line (with its line end), if the
// line names it exactly or hashes it.
func removeFromLine(raw, name string) (kept string, changed, dropped bool) {
	s := strings.TrimLeft(raw, " \t")
	if s == "" || s[0] == '#' || s[0] == '@' {
		return raw, false, false
	}
	hosts, rest := nextField(s)
	if strings.HasPrefix(hosts, hashedMagic) {
		if h, err := parseHashedHost(hosts); err == nil && hashedMatches(h, name) {
			return "", true, true
		}
		return raw, false, false
	}
	var left []string
	for _, p := range strings.Split(hosts, ",") {
		if strings.EqualFold(p, name) {
			changed = true
			continue
		}
		left = append(left, p)
	}
	switch {
	case !changed:
		return raw, false, false
	case len(left) == 0 || (len(left) == 1 && left[0] == ""):
		return "", true, true
	}
	return strings.Join(left, ",") + " " + rest, true, false
}

// hashedMatches reports whether a hashed entry hashes name.
func hashedMatches(h *hashedHost, name string) bool {
	mac := hmac.New(sha1.New, h.salt)
	mac.Write([]byte(name))
	return hmac.Equal(mac.Sum(nil), h.sum)
}

// String describes the change for a user, as ssh-keygen -R does.
func (r Removed) String() string {
	if r.Dropped {
		return "line " + strconv.Itoa(r.Line) + " removed"
	}
	return "line " + strconv.Itoa(r.Line) + ": the host's name removed, other names kept"
}
