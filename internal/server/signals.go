package server

import (
	"strconv"
	"syscall"
)

// signalNames maps the wire names of PROTOCOL.md §4.3 (without "SIG") to
// this platform's signals. Only these may be sent by a client.
var signalNames = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT,
	"KILL": syscall.SIGKILL, "TERM": syscall.SIGTERM, "ALRM": syscall.SIGALRM,
	"PIPE": syscall.SIGPIPE, "ABRT": syscall.SIGABRT, "SEGV": syscall.SIGSEGV,
	"FPE": syscall.SIGFPE, "ILL": syscall.SIGILL, "BUS": syscall.SIGBUS, "TRAP": syscall.SIGTRAP,
}

func signalByName(name string) (syscall.Signal, bool) {
	if sig, ok := signalNames[name]; ok {
		return sig, true
	}
	sig, ok := extraSignals[name]
	return sig, ok
}

// signalName is the wire name of sig, or its number when it has none.
func signalName(sig syscall.Signal) string {
	for name, s := range signalNames {
		if s == sig {
			return name
		}
	}
	for name, s := range extraSignals {
		if s == sig {
			return name
		}
	}
	return strconv.Itoa(int(sig))
}
