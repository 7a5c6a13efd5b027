package transfer

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"runtime"
	"strings"
	"unicode/utf8"

	"github.com/rexec-dev/rexec/internal/protocol/frame"
)

// Name limits: what Linux accepts (NAME_MAX and PATH_MAX), so a name that
// passes can be created on any common file system.
const (
	MaxComponent = 255
	MaxName      = 4096
)

// Temporary names. A partial file is ".BASE" + partInfix + a 16-digit key;
// a symlink is staged as ".BASE" + linkInfix + a 16-digit key (linkName).
// Names from the peer may not look like either, so the peer cannot
// pre-empt them.
const (
	partInfix   = ".rexec-part-"
	linkInfix   = ".rexec-link-"
	partKeyLen  = 16
	maxPartBase = 200 // room for the dot, the infix and the key in 255 bytes
)

// CheckName validates a relative, slash-separated name received from the
// peer. It refuses the empty name, absolute names, empty, "." and ".."
// components, NUL, invalid UTF-8, components over MaxComponent bytes,
// names over MaxName bytes, names reserved for rexec's temporary files,
// and on Windows backslashes and colons. It is pure: the file system is
// not consulted.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrBadName)
	case len(name) > MaxName:
		return fmt.Errorf("%w: name longer than %d bytes", ErrBadName, MaxName)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrBadName, name)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("%w: %q contains NUL", ErrBadName, name)
	case name[0] == '/':
		return fmt.Errorf("%w: %q is absolute", ErrBadName, name)
	case runtime.GOOS == "windows" && strings.ContainsAny(name, `\:`):
		return fmt.Errorf("%w: %q contains a backslash or colon", ErrBadName, name)
	}
	for comp := range strings.SplitSeq(name, "/") {
		if err := checkComponent(name, comp); err != nil {
			return err
		}
	}
	return nil
}

func checkComponent(name, comp string) error {
	switch {
	case comp == "":
		return fmt.Errorf("%w: %q has an empty component", ErrBadName, name)
	case comp == "." || comp == "..":
		return fmt.Errorf("%w: %q has a %q component", ErrBadName, name, comp)
	case len(comp) > MaxComponent:
		return fmt.Errorf("%w: %q has a component longer than %d bytes", ErrBadName, name, MaxComponent)
	case isTempName(comp):
		return fmt.Errorf("%w: %q is reserved for rexec's temporary files", ErrBadName, name)
	}
	return nil
}

// isTempName reports whether a file name looks like one of ours.
func isTempName(base string) bool {
	return strings.HasPrefix(base, ".") &&
		(strings.Contains(base, partInfix) || strings.Contains(base, linkInfix))
}

// PartName is the name of the partial file for a target named base that
// receives a file of this length and modification time. It is stable, so
// a later transfer of the same source version finds it, and different for
// another version, which will not waste time verifying it.
func PartName(base string, length, mtimeNS int64) string {
	h := sha256.New()
	h.Write([]byte(base))
	var b [17]byte
	binary.BigEndian.PutUint64(b[1:], uint64(length))
	binary.BigEndian.PutUint64(b[9:], uint64(mtimeNS))
	h.Write(b[:])
	key := hex.EncodeToString(h.Sum(nil))[:partKeyLen]
	return "." + shorten(base, maxPartBase) + partInfix + key
}

// IsPartName reports whether name is a partial file's name.
func IsPartName(name string) bool {
	i := strings.LastIndex(name, partInfix)
	if i < 1 || name[0] != '.' || len(name)-i-len(partInfix) != partKeyLen {
		return false
	}
	for _, c := range name[i+len(partInfix):] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// shorten cuts s to at most n bytes on a UTF-8 boundary.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// MaxNamesBody is the largest body of one names frame: one frame's body.
const MaxNamesBody = frame.MaxBodySize

// ParseNames splits the body of a names frame (PROTOCOL.md §8.11): names
// separated by NUL bytes, each checked with CheckName. An empty body holds
// no name. A bad name is ErrBadName.
func ParseNames(body []byte) ([]string, error) {
	if len(body) == 0 {
		return nil, nil
	}
	names := strings.Split(string(body), "\x00")
	for _, n := range names {
		if err := CheckName(n); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// AppendName appends name to the body of a names frame.
func AppendName(body []byte, name string) []byte {
	if len(body) > 0 {
		body = append(body, 0)
	}
	return append(body, name...)
}
