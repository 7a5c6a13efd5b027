//go:build !unix

package legacy

import (
	"strconv"
	"syscall"
)

// signalName gives sig's number: this platform's commands are not killed
// by named signals.
func signalName(sig syscall.Signal) string { return strconv.Itoa(int(sig)) }
