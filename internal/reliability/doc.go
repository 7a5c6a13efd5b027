// Package reliability holds rexec's fault-injection tests: a real server
// (package server) and the real client (package client) talk through
// package faultproxy, which flips bits in and cuts the TLS stream at
// random byte offsets, and the tests prove what must hold whatever the
// network does: no command runs from a modified stream, the client never
// reports a success it did not receive, and no goroutine, file
// descriptor, process or temporary file outlives a connection.
//
// It has no code of its own, only tests; docs/TESTING.md says how to run
// them (-short, default, and REXEC_RELIABILITY_FULL=1) and what they found.
// The load and soak tests are in package load below it.
package reliability
