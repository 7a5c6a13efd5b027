package auth

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// KnownHosts is a known_hosts file in OpenSSH format: one line per key,
// "host[,host...] keytype base64 [comment]", a host being a bare name or
// address for port 22 and "[host]:port" otherwise; hashed "|1|" entries,
// wildcards and negations are understood on reading. Path is the file;
// the zero value (empty Path) knows no hosts. The file is read on every
// Check, so edits take effect immediately. Add may be called concurrently
// with Check; concurrent Adds from several processes are not serialized.
type KnownHosts struct {
	Path string
}

// Check verifies that pub is a key pinned for host:port. host may be a
// name or an IP address (IPv6 with or without brackets). It returns nil on
// a match; *UnknownHostError when nothing is pinned for the host (also
// when the file does not exist); *HostKeyChangedError when other keys are
// pinned for it; an error wrapping ErrHostKeyRevoked for a @revoked key;
// and a plain error if the file cannot be read or has no valid line.
func (k KnownHosts) Check(host string, port int, pub ed25519.PublicKey) error {
	addr := joinHostPort(host, port)
	unknown := &UnknownHostError{Host: addr, Got: Fingerprint(pub)}
	if k.Path == "" {
		return unknown
	}
	cb, err := parsedKnownHosts(k.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return unknown
	}
	if err != nil {
		return fmt.Errorf("auth: reading known hosts: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedKey, err)
	}
	return k.translate(cb(addr, stubAddr(addr), sshPub), unknown)
}

// translate maps knownhosts errors onto this package's error types.
// knownHostsCache keeps the last parsed version of each known_hosts file,
// keyed by path and checked against the file's size, modification time
// and inode before use: a fan-out to 1,000 hosts would otherwise parse a
// 1,000-line file 1,000 times. Edits still take effect at once.
var knownHostsCache sync.Map // path -> *cachedKnownHosts

type cachedKnownHosts struct {
	stamp fileStamp
	cb    ssh.HostKeyCallback
}

// fileStamp identifies a version of a file cheaply.
type fileStamp struct {
	size, mtime int64
	ino         uint64
}

func parsedKnownHosts(path string) (ssh.HostKeyCallback, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	stamp := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano(), ino: fileInode(fi)}
	if c, ok := knownHostsCache.Load(path); ok && c.(*cachedKnownHosts).stamp == stamp {
		return c.(*cachedKnownHosts).cb, nil
	}
	cb, err := knownhosts.New(path)
	if err != nil {
		return nil, err
	}
	knownHostsCache.Store(path, &cachedKnownHosts{stamp: stamp, cb: cb})
	return cb, nil
}

func (k KnownHosts) translate(err error, unknown *UnknownHostError) error {
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &keyErr) && len(keyErr.Want) == 0:
		return unknown
	case errors.As(err, &keyErr):
		changed := &HostKeyChangedError{Host: unknown.Host, Got: unknown.Got}
		for _, w := range keyErr.Want {
			changed.Want = append(changed.Want, ssh.FingerprintSHA256(w.Key))
			changed.Lines = append(changed.Lines, fmt.Sprintf("%s:%d", w.Filename, w.Line))
		}
		return changed
	case errors.As(err, &revoked):
		return fmt.Errorf("%w: %s for %s (%s:%d)", ErrHostKeyRevoked, unknown.Got, unknown.Host,
			revoked.Revoked.Filename, revoked.Revoked.Line)
	default:
		return fmt.Errorf("auth: checking known hosts: %w", err)
	}
}

// Add appends one line pinning pub for every address in addrs, each
// "host:port", "[v6]:port", or a bare host or address (port 22). Addresses
// are normalized as OpenSSH writes them: host names lower-cased, bare for
// port 22, "[host]:port" otherwise. The file is created with mode 0600 if
// missing; its directory must exist.
func (k KnownHosts) Add(addrs []string, pub ed25519.PublicKey) error {
	if len(addrs) == 0 {
		return errors.New("auth: known hosts: no address to pin")
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedKey, err)
	}
	hosts := make([]string, 0, len(addrs))
	for _, a := range addrs {
		h, err := normalizeAddr(a)
		if err != nil {
			return err
		}
		hosts = append(hosts, h)
	}
	line := strings.Join(hosts, ",") + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + "\n"
	if data, err := os.ReadFile(k.Path); err == nil && len(data) > 0 && data[len(data)-1] != '\n' {
		line = "\n" + line
	}
	return appendFile(k.Path, line)
}

// normalizeAddr turns "host:port" (or a bare host) into known_hosts form.
func normalizeAddr(a string) (string, error) {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		host, port = a, "22"
	}
	host = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	p, perr := strconv.Atoi(port)
	if host == "" || perr != nil || p < 1 || p > 65535 || strings.ContainsAny(host, " \t\n\r,#[]") {
		return "", fmt.Errorf("auth: known hosts: bad address %q", a)
	}
	if p == 22 {
		return host, nil
	}
	return "[" + host + "]:" + strconv.Itoa(p), nil
}

// joinHostPort makes the "host:port" form Check reports and looks up.
func joinHostPort(host string, port int) string {
	host = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// stubAddr satisfies knownhosts' need for a remote net.Addr; the lookup
// itself uses the host name.
type stubAddr string

func (a stubAddr) Network() string { return "tcp" }
func (a stubAddr) String() string  { return string(a) }
