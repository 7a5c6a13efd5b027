package server

import "syscall"

// extraSignals is empty on Windows: it has no job-control signals.
var extraSignals = map[string]syscall.Signal{}

func isTemporary(err error) bool { return false }
