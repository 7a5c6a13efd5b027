package cli

import "os"

// notifyResize never fires on Windows: consoles have no SIGWINCH. The
// initial size is still sent.
func notifyResize() (<-chan os.Signal, func()) {
	return make(chan os.Signal), func() {}
}
