//go:build linux || darwin

package session

// Home is the home directory of the account sessions run as (the
// daemon's own), found as Start finds it: /etc/passwd, then os/user, then
// $HOME, then "/". File transfers resolve relative paths against it, so
// `rexec cp` and `rexec run` agree on where "~" is.
func Home() string { return currentAccount().home }
