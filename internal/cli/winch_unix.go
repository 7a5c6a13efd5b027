//go:build !windows

package cli

import (
	"os"
	"os/signal"
	"syscall"
)

// notifyResize delivers a value on the returned channel whenever the local
// terminal is resized; stop ends the delivery.
func notifyResize() (<-chan os.Signal, func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGWINCH)
	return c, func() { signal.Stop(c) }
}
