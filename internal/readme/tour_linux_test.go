//go:build linux

package readme

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTour runs README.md's examples as a newcomer would, and fails when
// a line does not exit as the README says (the conventions are in the
// package doc). Each line runs with `sh -c` as written, standard input
// empty and no terminal, within lineTimeout.
//
// The world, built fresh for each run and taken down by t.Cleanup even
// when the test fails (sweepLeftovers also removes what a killed run
// left):
//
//   - rexec built from the checkout (go build, with the settings of the
//     go test that runs the check), first on PATH; no REXEC_HOME.
//   - A new account, rexec-readme-PID, whose home is a new empty directory
//     (HOME), so that the daemons' sessions, which start in the account's
//     home, and `rexec cp`'s remote paths land there and nowhere else. Every
//     line runs as that account (setpriv), but the `go` lines: they run as
//     root in the checkout, with the machine's Go caches, and `go run`
//     hands the program it built to the account (GOFLAGS=-exec).
//   - The client: a network namespace of its own with loopback, where the
//     tour's lines and the set-up's daemon run; its /etc/hosts
//     (/etc/netns/NAME/hosts) names localhost and each server.
//   - The servers: server.example, web01 to web04 and db1, each a network
//     namespace with a veth link to the client (server i at 10.231.i.2)
//     and a home of its own, an empty directory bound onto the account's
//     home for its processes. Lines marked "on the server" run on
//     server.example, "on each server" on every one, with that server's
//     home.
//   - The working directory, one directory every machine sees (it stands
//     for however you carry a file from one machine to another), holding
//     the fixtures the examples name: report.pdf, big.iso (4 MiB), a.txt,
//     b.txt, app.tar, hosts.txt (web01 to web04), script.sh, deploy.sh
//     (executable) and conf/ (app.conf, conf.d/extra.conf and the link
//     current.conf).
//
// One thing is pre-arranged, as the README says it assumes: once the
// servers' daemons serve, the check pins the host keys of web01 to web04
// and db1 on the client with `rexec trust -y NAME`. Everything else,
// identities, authorized keys, daemons, the pinning of localhost and
// server.example, is done by the README's own lines.
//
// As root only (outside CI it skips without root or a prerequisite; in CI,
// where .ci/run installs them, it fails); skipped with -short and under
// the race detector, since it tests the built binary, not this package.
func TestTour(t *testing.T) {
	if testing.Short() {
		t.Skip("the README check builds rexec and a world of network namespaces: not in -short")
	}
	if raceEnabled {
		t.Skip("the README check tests the built binary, which the race detector does not instrument")
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines, err := parseReadme(string(doc))
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t)
	for _, l := range lines {
		where := func(m *machine) string {
			return fmt.Sprintf("README.md:%d (%s, on %s): %s", l.num, l.section, m.name, l.command)
		}
		switch l.kind {
		case notRun:
			t.Logf("README.md:%d: %s: not run (the test command, which runs this check)", l.num, l.command)
		case daemon:
			for _, m := range w.machines(l.place) {
				if err := w.startDaemon(m, l); err != nil {
					t.Fatalf("%s\n%v", where(m), err)
				}
			}
			if err := w.pinServing(); err != nil {
				t.Fatal(err)
			}
		case command:
			for _, m := range w.machines(l.place) {
				r, err := w.run(m, l.text)
				if err == nil {
					err = verdict(l, r.status, r.timedOut)
				}
				if err != nil {
					t.Errorf("%s\n%v\n%s", where(m), err, indent(r.output))
					continue
				}
				t.Logf("%s: exit %d\n%s", where(m), r.status, indent(r.output))
			}
		}
	}
	w.stopAll()
}

// indent sets output off in the log.
func indent(s string) string {
	if s == "" {
		return ""
	}
	return "\t" + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n\t")
}
