package readme

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// place is where a README line runs.
type place int

const (
	onClient     place = iota // the default: the reader's machine
	onServer                  // "on the server": server.example
	onEachServer              // "on each server": every server machine
)

func (p place) String() string {
	switch p {
	case onServer:
		return "the server"
	case onEachServer:
		return "each server"
	}
	return "the client"
}

// kind is what the check does with a line.
type kind int

const (
	command kind = iota // run to its end; it must exit with the stated status
	daemon              // started in the background, waited for until it serves
	notRun              // `go test ./...`: the test command, which runs the check
)

// tourLine is one line of a ```sh block of README.md.
type tourLine struct {
	num     int    // 1-based line number in README.md
	section string // the ## heading above it
	text    string // as written, comment included: what the shell runs
	command string // the line without its comment
	place   place
	want    int // the exit status the line states ("exits N"), else 0
	kind    kind
}

// maxStatus is the highest exit status a process can report.
const maxStatus = 255

// defaultListen is where `rexec serve` listens without --listen
// (docs/CLI.md §8).
const defaultListen = "127.0.0.1:7022"

// readyMark is what a daemon prints on standard error once it listens
// (internal/daemon's announce).
const readyMark = "serving on"

// theTestCommand is the README's test command, which the check does not
// run: it is what runs the check.
const theTestCommand = "go test ./..."

// refusedInfo are fence info strings that would hide shell examples from
// the check: the README writes them as ```sh.
var refusedInfo = []string{"bash", "shell", "console", "zsh", "sh-session", "shell-session"}

// parseReadme returns every line of the ```sh blocks of the markdown doc,
// with its section, place, expected exit status and kind, or the first
// line that breaks the conventions of the package doc.
func parseReadme(doc string) ([]tourLine, error) {
	var out []tourLine
	section := ""
	inBlock, isSh := false, false
	open := 0
	for i, raw := range strings.Split(doc, "\n") {
		num := i + 1
		s := strings.TrimRight(raw, " \t\r")
		if inBlock {
			if strings.TrimSpace(s) == "```" {
				inBlock = false
				continue
			}
			if !isSh {
				continue
			}
			// The line as the tour reads it back: trimmed the way
			// tourLine.text is, so that a trailing \v or \f cannot
			// make a line mean one thing here and another in the check.
			l, ok, err := parseLine(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("README.md:%d: %w", num, err)
			}
			if ok {
				l.num, l.section = num, section
				out = append(out, l)
			}
			continue
		}
		switch {
		case strings.HasPrefix(strings.TrimSpace(s), "```"):
			info := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "```"))
			if slices.Contains(refusedInfo, info) {
				return nil, fmt.Errorf("README.md:%d: a ```%s block: write shell examples as ```sh, the blocks the check runs", num, info)
			}
			inBlock, isSh, open = true, info == "sh", num
		case strings.HasPrefix(s, "## "):
			section = strings.TrimSpace(s[3:])
		}
	}
	if inBlock {
		return nil, fmt.Errorf("README.md:%d: the fenced block never closes", open)
	}
	return out, nil
}

// parseLine reads one line of a ```sh block. ok is false for a line
// with nothing to run (blank, or only a comment).
func parseLine(s string) (l tourLine, ok bool, err error) {
	cmd, comment, err := splitComment(s)
	if err != nil {
		return tourLine{}, false, err
	}
	if strings.TrimSpace(cmd) == "" {
		return tourLine{}, false, nil
	}
	p, want, err := parseComment(comment)
	if err != nil {
		return tourLine{}, false, err
	}
	l = tourLine{text: strings.TrimSpace(s), command: strings.TrimSpace(cmd), place: p, want: want, kind: lineKind(cmd)}
	switch {
	case l.kind == daemon && want != 0:
		return tourLine{}, false, errors.New("a daemon line cannot state an exit status: the check waits for it to serve")
	case l.kind == notRun && (want != 0 || p != onClient):
		return tourLine{}, false, fmt.Errorf("%q is not run by the check: it cannot state a place or a status", theTestCommand)
	case strings.HasPrefix(l.command, "go ") && p != onClient:
		return tourLine{}, false, errors.New("a go line runs in the checkout, on the client only")
	}
	return l, true, nil
}

// splitComment splits a shell line at the # that starts its comment: a
// # at the start of a word, outside quotes. It refuses what would make
// the line more than one command line: an unterminated quote, a trailing
// backslash (a continuation) and a here-document.
func splitComment(s string) (cmd, comment string, err error) {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			}
		case quote == '"':
			if c == '\\' {
				i++
			} else if c == '"' {
				quote = 0
			}
		case c == '\\':
			if i == len(s)-1 {
				return "", "", errors.New("a line that continues on the next: write one line per command")
			}
			i++
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || strings.IndexByte(" \t;&|()", s[i-1]) >= 0):
			return strings.TrimRight(s[:i], " \t"), strings.TrimSpace(s[i+1:]), nil
		case c == '<' && i+1 < len(s) && s[i+1] == '<':
			return "", "", errors.New("a here-document spans lines: write one line per command")
		}
	}
	if quote != 0 {
		return "", "", fmt.Errorf("an unterminated %c quote", quote)
	}
	return strings.TrimRight(s, " \t"), "", nil
}

// places are the comment openings that say where a line runs.
var places = []struct {
	prefix string
	place  place
}{
	{"on each server", onEachServer},
	{"on the server", onServer},
	{"on the client", onClient},
}

var (
	exitsOpening = regexp.MustCompile(`^exits ([0-9]+)\b`)
	exitsAny     = regexp.MustCompile(`\bexits [0-9]`)
	placeAny     = regexp.MustCompile(`\bon (the|each) (server|client)\b`)
)

// parseComment reads a line's comment: an optional place, then an
// optional "exits N". Either one elsewhere in the comment is an error,
// so that a statement is never silently not checked.
func parseComment(c string) (place, int, error) {
	p, rest := onClient, c
	for _, pl := range places {
		r, ok := strings.CutPrefix(c, pl.prefix)
		if ok && (r == "" || strings.IndexByte(":,; (", r[0]) >= 0) {
			p, rest = pl.place, strings.TrimLeft(r, ":,; ")
			break
		}
	}
	if loc := placeAny.FindStringIndex(rest); loc != nil {
		return 0, 0, fmt.Errorf("%q: a place opens the comment or is not one", rest[loc[0]:loc[1]])
	}
	m := exitsOpening.FindStringSubmatch(rest)
	if m == nil {
		if loc := exitsAny.FindStringIndex(rest); loc != nil {
			return 0, 0, errors.New(`"exits N" opens the comment (after its place), or the check would not see it`)
		}
		return p, 0, nil
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n > maxStatus {
		return 0, 0, fmt.Errorf("exit status %s is out of range 0-%d", m[1], maxStatus)
	}
	if exitsAny.MatchString(rest[len(m[0]):]) {
		return 0, 0, errors.New(`the comment states two exit statuses`)
	}
	return p, n, nil
}

// lineKind tells a daemon and the test command from a command to run.
func lineKind(cmd string) kind {
	f := strings.Fields(cmd)
	switch {
	case strings.Join(f, " ") == theTestCommand:
		return notRun
	case slices.Contains(f, "--check-config"):
		return command
	case len(f) >= 2 && f[0] == "rexec" && f[1] == "serve",
		len(f) >= 4 && f[0] == "go" && f[1] == "run" && f[2] == "./cmd/rexec" && f[3] == "serve":
		return daemon
	}
	return command
}

// listenFlags are the daemon flags that take an address it listens on.
var listenFlags = []string{"--listen", "--legacy-listen", "--metrics"}

// daemonAddrs returns the addresses a daemon line listens on: those of
// its listen flags, and the default rexec address without --listen. It
// reads the words of a line without quotes, as the README's daemon lines
// are; a listen flag without a valid host:port is an error.
func daemonAddrs(cmd string) ([]string, error) {
	f := strings.Fields(cmd)
	var addrs []string
	listen := false
	for i := 0; i < len(f); i++ {
		for _, flag := range listenFlags {
			var v string
			switch {
			case f[i] == flag:
				if i+1 == len(f) {
					return nil, fmt.Errorf("%s without an address", flag)
				}
				i++
				v = f[i]
			case strings.HasPrefix(f[i], flag+"="):
				v = f[i][len(flag)+1:]
			default:
				continue
			}
			if _, _, err := net.SplitHostPort(v); err != nil {
				return nil, fmt.Errorf("%s %q: %w", flag, v, err)
			}
			addrs = append(addrs, v)
			listen = listen || flag == "--listen"
			break
		}
	}
	if !listen {
		addrs = append(addrs, defaultListen)
	}
	return addrs, nil
}

// conflict reports whether two listen addresses cannot both be bound on
// one machine: the same port, and the same host or a wildcard on either
// side (Go's listener on 0.0.0.0 takes every address, IPv6 too).
func conflict(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb {
		return false
	}
	return ha == hb || wildcard(ha) || wildcard(hb)
}

func wildcard(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::"
}

// lineTimeout bounds one line of the tour: the slowest example runs 2 s
// (its --timeout); the rest are a loaded machine's margin.
const lineTimeout = 30 * time.Second

// verdict compares how a line ended with what the README states: nil when
// it exited with the stated status. status is -1 when a signal ended it.
func verdict(l tourLine, status int, timedOut bool) error {
	switch {
	case timedOut:
		return fmt.Errorf("did not end within %v and was killed; the README says it exits %d", lineTimeout, l.want)
	case status < 0:
		return fmt.Errorf("was killed by a signal; the README says it exits %d", l.want)
	case status != l.want:
		return fmt.Errorf("exited %d; the README says it exits %d", status, l.want)
	}
	return nil
}
