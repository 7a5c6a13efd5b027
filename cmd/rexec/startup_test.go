package main

import (
	"os/exec"
	"strings"
	"testing"
)

// heavyAtStart are packages whose initialisation or size every rexec
// process would pay for at start, although only the daemon's optional
// parts used them: a one-shot `rexec run` has a latency budget of a few
// milliseconds (docs/BENCHMARKS.md), and each of these cost 0.1 to 0.8 ms
// of it. Tests may use them (as references for our own code); the binary
// must not link them. net/http is linked, for /metrics alone, at a cost
// docs/BENCHMARKS.md measures ("Start-up cost of net/http"); the reason is
// in docs/ARCHITECTURE.md, "Rules behind the table".
var heavyAtStart = []string{
	"github.com/prometheus/",         // the text exposition is internal/metrics' own
	"golang.org/x/crypto/ssh",        // key files and known_hosts are internal/auth's own
	"google.golang.org/protobuf/",    // came with the Prometheus client
	"expvar",                         // likewise
	"golang.org/x/crypto/blowfish",   // came with x/crypto/ssh
	"golang.org/x/crypto/chacha20",   // likewise
	"golang.org/x/crypto/curve25519", // likewise
}

// TestStartupDependencies fails when the rexec binary links a package of
// heavyAtStart again.
func TestStartupDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, heavy := range heavyAtStart {
			if pkg == heavy || strings.HasPrefix(pkg, strings.TrimSuffix(heavy, "/")+"/") {
				t.Errorf("rexec links %s (matched %q): see heavyAtStart", pkg, heavy)
			}
		}
	}
}
