// Package readme holds the README check (tests only): TestTour runs
// every line of README.md's ```sh blocks, as written, on a fresh home, and
// fails when one does not exit as the README says.
//
// The README's conventions, which the check reads:
//
//   - Only ```sh blocks are examples, and every line of them is run (blank
//     lines and lines that are only a comment excepted). A block marked
//     bash, shell, console or zsh is refused, so no example escapes the
//     check; other blocks (```, ```toml) are not shell.
//   - A line's trailing comment (a # that starts a shell word) may open
//     with a place, "on the client" (the default), "on the server" (the
//     machine server.example) or "on each server" (every server machine),
//     then, after the place and a ':' or ',' if any, with "exits N": the
//     status the line exits with. A line without it must exit 0. "exits N"
//     or a place anywhere else in a comment is refused, so a statement the
//     check would miss cannot be written.
//   - A line is one shell command line: no continuation lines, no
//     here-documents.
//   - `rexec serve ...` and `go run ./cmd/rexec serve ...` (without
//     --check-config) are daemons: started in the background and waited
//     for until they print "serving on" on standard error. A daemon runs
//     until the tour ends, or until a later daemon line of the same ##
//     section on the same machine listens on one of its addresses (as
//     stopping it with Ctrl-C in its terminal would). A daemon line that
//     needs the address of a daemon of an earlier section fails: the
//     set-up's daemon, for one, runs beside the whole tour.
//   - `go test ./...` is not run: it is the test command, which runs this
//     check (.ci/run runs it first). It is the one exception.
//   - Lines that start with `go` run in the checkout; every other line in
//     the tour's working directory.
//
// The world the check builds (as root; Linux; iproute2's ip, util-linux's
// setpriv and mount, useradd) is described on TestTour.
package readme
