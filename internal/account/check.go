package account

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultShell is an account's shell when its passwd entry names none,
// as login(1) and sshd take it.
const DefaultShell = "/bin/sh"

// LoginShell is the account's shell, DefaultShell when the entry is empty.
func (a *Account) LoginShell() string {
	if a.Shell == "" {
		return DefaultShell
	}
	return a.Shell
}

// Check refuses an account that may not log in, as sshd does without PAM:
// a locked password entry ("!" first in the shadow database), an account
// past its expiry date, and a shell that refuses logins (nologin, false)
// or does not exist. now is the day to compare the expiry with. The
// shadow database is read only when it can be (the daemon runs as root);
// a daemon serving its own account cannot read it and skips those checks.
func (db DB) Check(a *Account, now time.Time) error {
	if err := db.checkShadow(a.Name, now); err != nil {
		return err
	}
	shell := a.LoginShell()
	switch filepath.Base(shell) {
	case "nologin", "false":
		return fmt.Errorf("%w: %s", ErrNoLogin, shell)
	}
	fi, err := os.Stat(shell)
	if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%w: %s does not exist or is not executable", ErrNoLogin, shell)
	}
	return nil
}

// checkShadow applies the shadow entry's lock and expiry fields.
func (db DB) checkShadow(name string, now time.Time) error {
	f, err := db.findLine(db.path(db.Shadow, "/etc/shadow"), name, 9)
	switch {
	case errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrNotExist):
		return nil // not root, or no shadow database: nothing to check
	case errors.Is(err, ErrUnknown):
		return nil // no shadow entry: nothing locked or expired
	case err != nil:
		return err
	}
	if strings.HasPrefix(f[1], "!") {
		return fmt.Errorf("%w: %s", ErrLocked, name)
	}
	if f[7] != "" {
		days, err := strconv.ParseInt(f[7], 10, 64)
		if err == nil && days >= 0 && now.Unix()/86400 >= days {
			return fmt.Errorf("%w: %s since %s", ErrExpired, name, time.Unix(days*86400, 0).UTC().Format("2006-01-02"))
		}
	}
	return nil
}

// Policy is the daemon's allow_users, deny_users, allow_groups and
// deny_groups, as sshd's AllowUsers and friends: patterns with '*' and
// '?'. Empty lists admit everyone.
type Policy struct {
	AllowUsers, DenyUsers, AllowGroups, DenyGroups []string
}

// Admit applies the lists in sshd's order: DenyUsers, AllowUsers,
// DenyGroups, AllowGroups; an account must pass each. groups are the
// names of the account's primary and supplementary groups.
func (p Policy) Admit(name string, groups []string) error {
	switch {
	case matchAny(p.DenyUsers, name):
		return fmt.Errorf("%w: %s is in deny_users", ErrNotAdmit, name)
	case len(p.AllowUsers) > 0 && !matchAny(p.AllowUsers, name):
		return fmt.Errorf("%w: %s is not in allow_users", ErrNotAdmit, name)
	}
	for _, g := range groups {
		if matchAny(p.DenyGroups, g) {
			return fmt.Errorf("%w: %s is in the group %s of deny_groups", ErrNotAdmit, name, g)
		}
	}
	if len(p.AllowGroups) == 0 {
		return nil
	}
	for _, g := range groups {
		if matchAny(p.AllowGroups, g) {
			return nil
		}
	}
	return fmt.Errorf("%w: none of the groups of %s is in allow_groups", ErrNotAdmit, name)
}

// CheckPatterns validates allow/deny patterns (config), so a typo fails
// at start.
func CheckPatterns(patterns []string) error {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil || p == "" || strings.ContainsAny(p, "/\\\x00 ") {
			return fmt.Errorf("invalid pattern %q (names with * and ?)", p)
		}
	}
	return nil
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// GroupNames returns the names of the account's primary and
// supplementary groups (for Policy.Admit), as the group database has them.
func (db DB) GroupNames(a *Account) ([]string, error) {
	want := map[string]bool{strconv.Itoa(a.GID): true}
	for _, g := range a.Groups {
		want[strconv.Itoa(g)] = true
	}
	var names []string
	err := scanDB(db.path(db.Group, "/etc/group"), func(f []string) bool {
		if len(f) == 4 && want[f[2]] {
			names = append(names, f[0])
			delete(want, f[2])
		}
		return false
	})
	return names, err
}

// DefaultPath is a session's PATH when /etc/login.defs gives none:
// login(1)'s defaults.
const (
	DefaultPath     = "/usr/local/bin:/usr/bin:/bin"
	DefaultRootPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// Path is PATH for a session of the account: ENV_SUPATH (root) or
// ENV_PATH from /etc/login.defs, as login(1) sets it, else the defaults.
func (db DB) Path(a *Account) string {
	key, def := "ENV_PATH", DefaultPath
	if a.UID == 0 {
		key, def = "ENV_SUPATH", DefaultRootPath
	}
	b, err := os.ReadFile(db.path(db.LoginDefs, "/etc/login.defs"))
	if err != nil {
		return def
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == key {
			v := strings.TrimPrefix(f[1], "PATH=")
			if v != "" && !strings.ContainsAny(v, "\x00") {
				return v
			}
		}
	}
	return def
}

// DefaultUmask is an account's file creation mask when /etc/login.defs
// sets none: login(1)'s default.
const DefaultUmask = 0o022

// Umask is the file creation mask a login of the account gets, as
// pam_umask computes it without PAM's own configuration: UMASK from
// /etc/login.defs (else DefaultUmask); with USERGROUPS_ENAB yes, for a
// non-root account whose primary group has its name and number, the
// group bits become the owner bits (022 becomes 002); a "umask=0NNN" in
// the passwd entry's comment field wins (pam_umask's GECOS rule).
func (db DB) Umask(a *Account) int {
	mask, usergroups := DefaultUmask, false
	if b, err := os.ReadFile(db.path(db.LoginDefs, "/etc/login.defs")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) != 2 {
				continue
			}
			switch f[0] {
			case "UMASK":
				if v, err := strconv.ParseUint(f[1], 8, 32); err == nil && v <= 0o777 {
					mask = int(v)
				}
			case "USERGROUPS_ENAB":
				usergroups = strings.EqualFold(f[1], "yes")
			}
		}
	}
	if usergroups && a.UID != 0 && a.UID == a.GID && a.Group == a.Name {
		mask = mask&^0o070 | (mask&0o700)>>3
	}
	if v, ok := db.gecosUmask(a.Name); ok {
		mask = v
	}
	return mask
}

// gecosUmask reads a "umask=0NNN" setting in the account's comment field.
func (db DB) gecosUmask(name string) (int, bool) {
	f, err := db.findLine(db.path(db.Passwd, "/etc/passwd"), name, 7)
	if err != nil {
		return 0, false
	}
	for _, part := range strings.Split(f[4], ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "umask="); ok {
			if m, err := strconv.ParseUint(v, 8, 32); err == nil && m <= 0o777 {
				return int(m), true
			}
		}
	}
	return 0, false
}
