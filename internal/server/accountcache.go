package server

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rexec-dev/rexec/internal/account"
)

// accountCache keeps what the account databases said of each account
// asked for, as long as none of those files changed: every connection
// and every request of another account checks its account, and reading
// passwd, group, shadow and login.defs again each time is most of a
// session's cost as another account (docs/BENCHMARKS.md).
type accountCache struct {
	mu      sync.Mutex // mu guards the fields below
	version string
	day     int64 // the day the checks were made for: expiry dates count days
	byName  map[string]*accountEntry
}

// accountEntry is one account's lookup and checks.
type accountEntry struct {
	acct     *account.Account
	path     string
	umask    int
	admitErr error // why it may not log in (Check, Policy), or nil
	err      error // the lookup's error (unknown account)
}

// maxCachedAccounts bounds the cache: names come from clients, and a
// client asking for many unknown names must not grow it without end.
const maxCachedAccounts = 4096

// cachedAccount returns the account name as the databases say, looked up and
// checked again when a database file changed (or the day did).
func (s *Server) cachedAccount(name string) *accountEntry {
	c := &s.accounts
	version, day := dbVersion(s.cfg.AccountDB), time.Now().Unix()/86400
	c.mu.Lock()
	if c.version != version || c.day != day || c.byName == nil {
		c.version, c.day, c.byName = version, day, map[string]*accountEntry{}
	}
	e := c.byName[name]
	c.mu.Unlock()
	if e != nil {
		return e
	}
	e = s.lookupAccount(name)
	c.mu.Lock()
	if len(c.byName) >= maxCachedAccounts {
		c.byName = map[string]*accountEntry{}
	}
	if c.version == version {
		c.byName[name] = e
	}
	c.mu.Unlock()
	return e
}

// lookupAccount reads the databases for name.
func (s *Server) lookupAccount(name string) *accountEntry {
	db := s.cfg.AccountDB
	a, err := db.Lookup(name)
	if err != nil {
		return &accountEntry{err: err}
	}
	return &accountEntry{acct: a, path: db.Path(a), umask: db.Umask(a), admitErr: s.admit(a)}
}

// dbVersion identifies the state of the account databases cheaply.
func dbVersion(db account.DB) string {
	var b strings.Builder
	for _, p := range db.Files() {
		fi, err := os.Stat(p)
		if err != nil {
			b.WriteString("-|")
			continue
		}
		b.WriteString(strconv.FormatInt(fi.Size(), 36))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(fi.ModTime().UnixNano(), 36))
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(inodeOf(fi), 36))
		b.WriteByte('|')
	}
	return b.String()
}

// stillAdmitted checks, for each request, that the connection's account
// may still log in: the same account (uid) exists and passes its checks.
func (s *Server) stillAdmitted(a *sessionAccount) error {
	e := s.cachedAccount(a.name)
	switch {
	case e.err != nil:
		return e.err
	case e.admitErr != nil:
		return e.admitErr
	case e.acct.UID != a.acct.UID:
		return errors.New("the account was replaced by another of the same name")
	}
	return nil
}
