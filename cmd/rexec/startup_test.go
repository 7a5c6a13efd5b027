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
//
// golang.org/x/crypto/ssh (with blowfish, chacha20 and curve25519, which
// it brings) was on this list and is linked now: `rexec ssh` and the keys
// of ssh users (ssh-agent, passphrases, RSA and ECDSA key files, key
// proofs) and the sftp subsystem (github.com/pkg/sftp, which imports it)
// need it, and writing its key formats, KDFs and the agent protocol again
// would be far more code to keep correct than the cost it adds, measured
// in docs/BENCHMARKS.md ("Start-up cost of x/crypto/ssh and pkg/sftp").
var heavyAtStart = []string{
	"github.com/prometheus/",      // the text exposition is internal/metrics' own
	"google.golang.org/protobuf/", // came with the Prometheus client
	"expvar",                      // likewise
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
