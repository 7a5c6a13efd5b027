// Package account describes the local accounts a root daemon serves: who
// an account is (uid, primary and supplementary groups, home, shell) as
// the system's databases say, whether it may log in at all (locked,
// expired, a shell that refuses logins), whether the daemon's
// allow/deny lists admit it, and the environment a session of it starts
// from (docs/SECURITY.md, "Accounts").
//
// It reads the files Go reads without cgo: /etc/passwd, /etc/group,
// /etc/shadow and /etc/login.defs. Accounts that only NSS modules know
// (LDAP, SSSD, systemd-homed) and PAM's account and session stacks are
// not consulted; a build with cgo and PAM would put them behind the same
// Lookup and Check.
//
// account imports nothing internal.
package account
