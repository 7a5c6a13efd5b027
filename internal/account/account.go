package account

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Errors of this package; compare with errors.Is. A server answers an
// unknown account exactly as it answers a refused key, so that these
// never reach a client (no account enumeration); they are for the log.
var (
	ErrUnknown  = errors.New("account: no such account")
	ErrBadName  = errors.New("account: invalid account name")
	ErrLocked   = errors.New("account: locked")
	ErrExpired  = errors.New("account: expired")
	ErrNoLogin  = errors.New("account: its shell refuses logins")
	ErrNotAdmit = errors.New("account: not admitted by the daemon's allow/deny lists")
)

// MaxNameLen bounds an account name: useradd's and utmp's limit.
const MaxNameLen = 32

// maxDBLine bounds one line of passwd, group or shadow: a longer line is
// not a sane entry (and a group line with thousands of members still fits).
const maxDBLine = 1 << 20

// Account is a local account as the system's databases describe it.
type Account struct {
	Name  string
	UID   int
	GID   int    // primary group
	Group string // primary group's name, "" if the group database lacks it
	// Groups are the supplementary groups from the group database (the
	// primary one included when listed there), never the daemon's own.
	Groups []int
	Home   string
	Shell  string
}

// DB names the files an account is read from; the zero value means the
// system's (/etc/passwd, /etc/group, /etc/shadow, /etc/login.defs).
// Tests point it at fixtures.
type DB struct {
	Passwd, Group, Shadow, LoginDefs string
}

func (db DB) path(p, def string) string {
	if p == "" {
		return def
	}
	return p
}

// ValidName checks an account name a client sent before it is looked up
// anywhere: 1 to MaxNameLen bytes of letters, digits, '.', '_' and '-'
// (a trailing '$' allowed, for machine accounts), not starting with '-'
// or '.', no "..", and not all digits (a number would be taken for a uid
// by many tools).
func ValidName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrBadName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrBadName, MaxNameLen)
	case name[0] == '-' || name[0] == '.':
		return fmt.Errorf("%w: %q starts with %q", ErrBadName, name, name[0])
	case strings.Contains(name, ".."):
		return fmt.Errorf("%w: %q contains \"..\"", ErrBadName, name)
	case strings.Trim(name, "0123456789") == "":
		return fmt.Errorf("%w: %q is all digits", ErrBadName, name)
	}
	body := strings.TrimSuffix(name, "$")
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q has the character %q", ErrBadName, name, c)
		}
	}
	return nil
}

// Lookup finds name in the passwd database and its groups in the group
// database. It fails with ErrBadName or ErrUnknown (wrapped).
func (db DB) Lookup(name string) (*Account, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	f, err := db.findLine(db.path(db.Passwd, "/etc/passwd"), name, 7)
	if err != nil {
		return nil, err
	}
	uid, err1 := strconv.Atoi(f[2])
	gid, err2 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil || uid < 0 || gid < 0 {
		return nil, fmt.Errorf("account: %s: bad uid or gid in the passwd database", name)
	}
	a := &Account{Name: name, UID: uid, GID: gid, Home: f[5], Shell: f[6]}
	if err := db.addGroups(a); err != nil {
		return nil, err
	}
	return a, nil
}

// LookupUID finds the account with uid (the first line that has it).
func (db DB) LookupUID(uid int) (*Account, error) {
	want := strconv.Itoa(uid)
	var name string
	err := scanDB(db.path(db.Passwd, "/etc/passwd"), func(f []string) bool {
		if len(f) == 7 && f[2] == want {
			name = f[0]
			return true
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("%w: uid %d", ErrUnknown, uid)
	}
	return db.Lookup(name)
}

// findLine returns the fields of name's line in a colon-separated
// database whose lines have n fields.
func (db DB) findLine(path, name string, n int) ([]string, error) {
	var found []string
	err := scanDB(path, func(f []string) bool {
		if len(f) == n && f[0] == name {
			found = f
			return true
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknown, name)
	}
	return found, nil
}

// addGroups fills the primary group's name and the supplementary groups.
func (db DB) addGroups(a *Account) error {
	seen := map[int]bool{}
	err := scanDB(db.path(db.Group, "/etc/group"), func(f []string) bool {
		if len(f) != 4 {
			return false
		}
		gid, err := strconv.Atoi(f[2])
		if err != nil || gid < 0 {
			return false
		}
		if gid == a.GID && a.Group == "" {
			a.Group = f[0]
		}
		for _, m := range strings.Split(f[3], ",") {
			if m == a.Name && !seen[gid] {
				seen[gid] = true
				a.Groups = append(a.Groups, gid)
			}
		}
		return false
	})
	return err
}

// scanDB calls match with the fields of each line of a colon-separated
// database until it returns true. Comment and empty lines are skipped;
// a "+" or "-" NIS compat line is not an account.
func scanDB(path string, match func([]string) bool) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("account: %w", err)
	}
	defer fh.Close()
	return scanLines(fh, path, match)
}

func scanLines(r io.Reader, path string, match func([]string) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxDBLine)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		if match(strings.Split(line, ":")) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("account: reading %s: %w", path, err)
	}
	return nil
}

// Files are the database files db reads, for a cache to notice a change.
func (db DB) Files() []string {
	return []string{db.path(db.Passwd, "/etc/passwd"), db.path(db.Group, "/etc/group"),
		db.path(db.Shadow, "/etc/shadow"), db.path(db.LoginDefs, "/etc/login.defs")}
}
