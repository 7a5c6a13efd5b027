//go:build !linux && !darwin

package session

import "os"

// Home is the home directory of the account sessions run as: the
// daemon's own, from the environment, else "/".
func Home() string {
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return h
	}
	return "/"
}
