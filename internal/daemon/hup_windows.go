package daemon

import "os"

// notifyHangup does nothing on Windows, which has no SIGHUP.
func notifyHangup(chan<- os.Signal) {}
