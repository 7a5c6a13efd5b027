// Package rexectest holds the helpers rexec's tests share, so that each is
// written once: building and starting the real binary (MainWithBinary,
// StartDaemon), an in-process server on loopback (ServeLoopback) and a
// hand-played one (StartFakeServer), running a package's tests as the
// daemon runs them (MainAsDaemon: a subreaper, and no session process
// left behind), reading /proc for process leaks and costs (SessionProcs,
// CheckGone, Alive, Children, CPU, ...), and small things every suite
// needs (Eventually, Parallel, FreePort, SyncBuffer, SeedDir, SkipOrFail).
//
// Tests only: no package of the binary imports it (docs/ARCHITECTURE.md).
// Its helpers take a testing.TB where they may fail a test, and bound
// every wait. The /proc readers are Linux's; elsewhere they find nothing.
package rexectest
