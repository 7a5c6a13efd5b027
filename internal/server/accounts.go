package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rexec-dev/rexec/internal/account"
	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/session"
)

// Accounts (docs/SECURITY.md, "Accounts"). A daemon running as root serves
// every local account: the client's hello names one, the account's own
// authorized_keys files and the administrator's authorize keys for it, and
// its sessions and file requests run with exactly its rights. A daemon
// running as any other user serves its own account only, as before.

// Values of Config.PermitRoot, as sshd's PermitRootLogin.
const (
	// PermitRootAdminKeys admits root only with a key from a file the
	// administrator owns (an admin pattern of AuthorizedKeysFiles, or a
	// root daemon's own rexec home): the default.
	PermitRootAdminKeys = "admin-keys"
	// PermitRootNo refuses root whatever the key.
	PermitRootNo = "no"
)

// DefaultAuthorizedKeysFiles is Config.AuthorizedKeysFiles when nil: each
// account's own file in its rexec home, and the administrator's file for
// it. %h is the account's home directory, %u its name, %U its uid, %% a
// percent sign. A pattern without %h names a file the administrator owns:
// it and the directories above it must belong to root.
var DefaultAuthorizedKeysFiles = []string{"%h/.config/rexec/authorized_keys", "/etc/rexec/authorized_keys.d/%u"}

// errAccountDenied is a daemon serving one account asked explicitly for
// another: refused as such (error denied), since the daemon's own account
// is no secret.
type errAccountDenied struct{ own, asked string }

func (e errAccountDenied) Error() string {
	return fmt.Sprintf("this server runs as %q and serves only that account; user %q is not available "+
		"(a daemon running as root serves every account)", e.own, e.asked)
}

// sessionAccount is the account a connection's requests run as.
type sessionAccount struct {
	name string
	// own is the daemon's own account: sessions and file requests run in
	// the daemon's process as before, with no change of ids.
	own bool
	// acct is the account as the system describes it; nil for the
	// daemon's own account when it is not root.
	acct  *account.Account
	path  string // PATH of its sessions
	umask int    // its file creation mask, for uploads
	files []keyFile
}

// resolveAccount picks the account a client's hello asks for and checks
// that it may log in at all. Any refusal but errAccountDenied must be
// answered exactly as a refused key is (no account enumeration); its
// error is for the log.
func (s *Server) resolveAccount(user string, explicit bool) (*sessionAccount, error) {
	if user == "" || user == s.user || (!s.root && !explicit) {
		return s.ownAccount(), nil
	}
	if !s.root {
		return nil, errAccountDenied{own: s.user, asked: user}
	}
	if err := account.ValidName(user); err != nil {
		return nil, err
	}
	e := s.cachedAccount(user)
	switch {
	case e.err != nil:
		return nil, e.err
	case e.admitErr != nil:
		return nil, e.admitErr
	}
	a := e.acct
	sa := &sessionAccount{name: a.Name, acct: a, path: e.path, umask: e.umask}
	sa.files = s.accountKeyFiles(a, a.UID == 0)
	if a.UID == 0 && s.cfg.PermitRoot == PermitRootNo {
		return nil, errors.New("permit_root is no")
	}
	return sa, nil
}

// admit applies the account checks of a login: not locked, not expired, a
// shell that takes logins, and the daemon's allow/deny lists.
func (s *Server) admit(a *account.Account) error {
	db := s.cfg.AccountDB
	if err := db.Check(a, time.Now()); err != nil {
		return err
	}
	groups, err := db.GroupNames(a)
	if err != nil {
		return err
	}
	return s.cfg.AccountPolicy.Admit(a.Name, groups)
}

// ownAccount is the daemon's own account: its rexec home's
// authorized_keys (admin-owned when the daemon is root, so that a fresh
// root daemon lets its own user in) and the administrator's file for it.
func (s *Server) ownAccount() *sessionAccount {
	sa := &sessionAccount{name: s.user, own: true}
	sa.files = append(sa.files, keyFile{path: s.cfg.AuthorizedKeysPath,
		modes: auth.StrictModes{UID: -1, Home: homeDir()}, admin: s.root})
	for _, pat := range s.cfg.AuthorizedKeysFiles {
		if !strings.Contains(pat, "%h") {
			sa.files = append(sa.files, s.adminFile(pat, s.user, os.Geteuid()))
		}
	}
	return sa
}

// accountKeyFiles expands AuthorizedKeysFiles for a: the account's own
// files (checked for its uid) and the administrator's (checked for root).
// For root under permit_root admin-keys only the administrator's count,
// and the root daemon's own rexec home (ownAccount) stands for root's.
func (s *Server) accountKeyFiles(a *account.Account, adminOnly bool) []keyFile {
	var files []keyFile
	for _, pat := range s.cfg.AuthorizedKeysFiles {
		if !strings.Contains(pat, "%h") {
			files = append(files, s.adminFile(pat, a.Name, a.UID))
			continue
		}
		if adminOnly {
			continue
		}
		files = append(files, keyFile{path: expandKeysPattern(pat, a.Name, a.UID, a.Home),
			modes: auth.StrictModes{UID: a.UID, Home: a.Home}})
	}
	return files
}

// adminFile is an administrator's authorized_keys file for an account:
// root must own it and every directory above it.
func (s *Server) adminFile(pat, name string, uid int) keyFile {
	return keyFile{path: expandKeysPattern(pat, name, uid, ""), modes: auth.StrictModes{UID: 0}, admin: true}
}

// expandKeysPattern replaces %h, %u, %U and %% as sshd's
// AuthorizedKeysFile does. The name is a valid account name, so the
// result has no ".." of its making.
func expandKeysPattern(pat, name string, uid int, home string) string {
	var b strings.Builder
	for i := 0; i < len(pat); i++ {
		if pat[i] != '%' || i+1 == len(pat) {
			b.WriteByte(pat[i])
			continue
		}
		i++
		switch pat[i] {
		case 'h':
			b.WriteString(home)
		case 'u':
			b.WriteString(name)
		case 'U':
			b.WriteString(strconv.Itoa(uid))
		default:
			b.WriteByte(pat[i])
		}
	}
	return filepath.Clean(b.String())
}

// CheckAuthorizedKeysFiles validates AuthorizedKeysFiles patterns
// (config): absolute (or starting with %h), with known tokens only.
func CheckAuthorizedKeysFiles(pats []string) error {
	for _, p := range pats {
		if !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "%h/") {
			return fmt.Errorf("authorized_keys_files: %q must be absolute or start with %%h/", p)
		}
		for i := 0; i < len(p); i++ {
			if p[i] == '%' && (i+1 == len(p) || !strings.ContainsRune("huU%", rune(p[i+1]))) {
				return fmt.Errorf("authorized_keys_files: %q: unknown token (want %%h, %%u, %%U or %%%%)", p)
			}
			if p[i] == '%' {
				i++
			}
		}
	}
	return nil
}

// sessionUser is what package session needs to start a process as the
// account: nil for the daemon's own, which needs no change.
func (a *sessionAccount) sessionUser() *session.User {
	if a.own || a.acct == nil {
		return nil
	}
	groups := make([]uint32, len(a.acct.Groups))
	for i, g := range a.acct.Groups {
		groups[i] = uint32(g)
	}
	return &session.User{Name: a.acct.Name, UID: uint32(a.acct.UID), GID: uint32(a.acct.GID), Groups: groups,
		Home: a.acct.Home, Shell: a.acct.LoginShell(), Path: a.path}
}
