package auth

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// KnownHosts is a known_hosts file in OpenSSH format: one line per key,
// "host[,host...] keytype base64 [comment]", a host being a bare name or
// address for port 22 and "[host]:port" otherwise; hashed "|1|" entries,
// wildcards, negations and @revoked are understood on reading (see
// known_hosts_file.go for the exact rules). Path is the file; the zero
// value (empty Path) knows no hosts. The file is read on every Check
// (parsed again only when it changed), so edits take effect immediately.
// Add may be called concurrently with Check; concurrent Adds from several
// processes are not serialized.
type KnownHosts struct {
	Path string
}

// Check verifies that pub is a key pinned for host:port. host may be a
// name or an IP address (IPv6 with or without brackets). It returns nil on
// a match; *UnknownHostError when nothing is pinned for the host (also
// when the file does not exist); *HostKeyChangedError when other keys, of
// any type, are pinned for it; an error wrapping ErrHostKeyRevoked when a
// @revoked line names pub, whatever the host; an error wrapping
// ErrMalformedKey if pub is not 32 bytes; and a plain error if the file
// cannot be read, is larger than 16 MiB, has a line of 64 KiB or more, or
// has no valid line but some invalid ones.
func (k KnownHosts) Check(host string, port int, pub ed25519.PublicKey) error {
	addr := joinHostPort(host, port)
	unknown := &UnknownHostError{Host: addr, Got: Fingerprint(pub)}
	if k.Path == "" {
		return unknown
	}
	db, err := loadKnownHosts(k.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return unknown
	}
	if err != nil {
		return fmt.Errorf("auth: reading known hosts: %w", err)
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: ed25519 public key of %d bytes", ErrMalformedKey, len(pub))
	}
	blob := marshalPublicKey(pub)
	if line, ok := db.revoked[string(blob)]; ok {
		return fmt.Errorf("%w: %s for %s (%s:%d)", ErrHostKeyRevoked, unknown.Got, unknown.Host, k.Path, line)
	}
	// What a known_hosts pattern is matched against is the host and port
	// as SplitHostPort returns them; a host it cannot split (one holding
	// '[' or ']') matches nothing and is an error.
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("auth: checking known hosts: %w", err)
	}
	want, found := db.lookup(h, p, blob)
	switch {
	case found:
		return nil
	case len(want) == 0:
		return unknown
	}
	return k.changed(unknown, want)
}

// changed is the HostKeyChangedError for the entries pinned for a host.
func (k KnownHosts) changed(unknown *UnknownHostError, want []*hostEntry) *HostKeyChangedError {
	changed := &HostKeyChangedError{Host: unknown.Host, Got: unknown.Got}
	for _, e := range want {
		changed.Want = append(changed.Want, fingerprintBlob(e.key))
		changed.Lines = append(changed.Lines, fmt.Sprintf("%s:%d", k.Path, e.line))
	}
	return changed
}

// knownHostsCache keeps the last parsed version of each known_hosts file,
// keyed by path and checked against the file's size, modification time
// and inode before use: a fan-out to 1,000 hosts would otherwise parse a
// 1,000-line file 1,000 times. Edits still take effect at once.
var knownHostsCache sync.Map // path -> *cachedKnownHosts

type cachedKnownHosts struct {
	stamp fileStamp
	db    *hostKeyDB
}

// fileStamp identifies a version of a file cheaply.
type fileStamp struct {
	size, mtime int64
	ino         uint64
}

// loadKnownHosts returns the parsed file at path, from the cache when the
// file has not changed. The stamp is taken before reading, so a file
// changed meanwhile is parsed again on the next call, never missed.
func loadKnownHosts(path string) (*hostKeyDB, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	stamp := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano(), ino: fileInode(fi)}
	if c, ok := knownHostsCache.Load(path); ok && c.(*cachedKnownHosts).stamp == stamp {
		return c.(*cachedKnownHosts).db, nil
	}
	data, err := readKnownHosts(path)
	if err != nil {
		return nil, err
	}
	db, err := parseKnownHosts(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	knownHostsCache.Store(path, &cachedKnownHosts{stamp: stamp, db: db})
	return db, nil
}

// readKnownHosts reads at most maxKnownHostsSize bytes of path, and fails
// if there are more.
func readKnownHosts(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKnownHostsSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKnownHostsSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxKnownHostsSize)
	}
	return data, nil
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
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: ed25519 public key of %d bytes", ErrMalformedKey, len(pub))
	}
	hosts := make([]string, 0, len(addrs))
	for _, a := range addrs {
		h, err := normalizeAddr(a)
		if err != nil {
			return err
		}
		hosts = append(hosts, h)
	}
	line := strings.Join(hosts, ",") + " " + AuthorizedLine(pub, "") + "\n"
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
