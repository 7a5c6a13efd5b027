// Package load holds rexec's load and soak tests. They build the real
// binary, start `rexec serve` as its own process, drive it with package
// client in-process, and read the daemon's resident memory, threads and
// file descriptors from /proc: 1,000 concurrent sessions held (memory per
// session), new authenticated sessions per second, and a soak of mixed
// commands and transfers whose memory, threads and descriptors must stay
// flat.
//
// The tests need the build tag load and are not part of `go test ./...`:
// `make load`, `make soak` (SOAKTIME, default 30m); docs/TESTING.md holds
// the figures.
package load
