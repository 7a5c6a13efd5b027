package readme

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var splitCommentCases = []struct {
	line, cmd, comment string
	err                string // a part of the error, "" for none
}{
	{line: "rexec run localhost -- uname -a             # argv, run exactly as given",
		cmd: "rexec run localhost -- uname -a", comment: "argv, run exactly as given"},
	{line: "rexec run localhost 'ps aux | grep #x'   # one argument", cmd: "rexec run localhost 'ps aux | grep #x'", comment: "one argument"},
	{line: `echo "a # b \" # c" # d`, cmd: `echo "a # b \" # c"`, comment: "d"},
	{line: "echo a#b", cmd: "echo a#b"},
	{line: `echo \# x`, cmd: `echo \# x`},
	{line: "echo ${#x} $#", cmd: "echo ${#x} $#"},
	{line: "true;# c", cmd: "true;", comment: "c"},
	{line: "true\t#\tc\t", cmd: "true", comment: "c"},
	{line: "# only a comment", cmd: "", comment: "only a comment"},
	{line: "printf 'a\\nb\\n' | rexec run localhost -- wc -l", cmd: "printf 'a\\nb\\n' | rexec run localhost -- wc -l"},
	{line: "rexec run -e NAME=value localhost -- sh -c 'echo $NAME; pwd'", cmd: "rexec run -e NAME=value localhost -- sh -c 'echo $NAME; pwd'"},
	{line: "echo '<<' \"<<\" \\<<", cmd: "echo '<<' \"<<\" \\<<"},
	{line: "echo 'a", err: "unterminated ' quote"},
	{line: `echo "a`, err: `unterminated " quote`},
	{line: `echo "a\"`, err: `unterminated " quote`},
	{line: `rexec run localhost \`, err: "continues on the next"},
	{line: "cat <<EOF", err: "here-document"},
	{line: "cat<<-EOF # c", err: "here-document"},
}

func TestSplitComment(t *testing.T) {
	for _, c := range splitCommentCases {
		cmd, comment, err := splitComment(c.line)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("splitComment(%q): error %v, want one with %q", c.line, err, c.err)
			}
			continue
		}
		if err != nil || cmd != c.cmd || comment != c.comment {
			t.Errorf("splitComment(%q) = %q, %q, %v; want %q, %q", c.line, cmd, comment, err, c.cmd, c.comment)
		}
	}
}

var parseCommentCases = []struct {
	comment string
	place   place
	want    int
	err     string
}{
	{comment: "", place: onClient},
	{comment: "argv, run exactly as given", place: onClient},
	{comment: "exits 7: the remote exit status", place: onClient, want: 7},
	{comment: "exits 124", place: onClient, want: 124},
	{comment: "exits 0", place: onClient},
	{comment: "exits 255: rexec failed", place: onClient, want: 255},
	{comment: "exits 3 against rexec serve (128+N if killed by signal N)", place: onClient, want: 3},
	{comment: "on the server: open it beyond loopback", place: onServer},
	{comment: "on the server", place: onServer},
	{comment: "on each server (or: ... | rexec authorize -)", place: onEachServer},
	{comment: "on the client: show and pin the host key", place: onClient},
	{comment: "on the server, exits 3", place: onServer, want: 3},
	{comment: "on each server: exits 2: why", place: onEachServer, want: 2},
	{comment: "on the serverless cloud", place: onClient},
	{comment: "the exit status, as ssh's", place: onClient},
	{comment: "exits at once", place: onClient},
	{comment: "exits 256", err: "out of range"},
	{comment: "exits 99999999999999999999999", err: "out of range"},
	{comment: "exits 0x1", err: "opens the comment"},
	{comment: "7: the remote status; exits 7", err: "opens the comment"},
	{comment: "on the server: the status; exits 7", err: "opens the comment"},
	{comment: "exits 1, or exits 2", err: "two exit statuses"},
	{comment: "runs on the server", err: "a place opens the comment"},
	{comment: "exits 1 on the client", err: "a place opens the comment"},
	{comment: "on the server: then on each server", err: "a place opens the comment"},
}

func TestParseComment(t *testing.T) {
	for _, c := range parseCommentCases {
		p, want, err := parseComment(c.comment)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("parseComment(%q): error %v, want one with %q", c.comment, err, c.err)
			}
			continue
		}
		if err != nil || p != c.place || want != c.want {
			t.Errorf("parseComment(%q) = %v, %d, %v; want %v, %d", c.comment, p, want, err, c.place, c.want)
		}
	}
}

func TestLineKind(t *testing.T) {
	for _, c := range []struct {
		cmd  string
		want kind
	}{
		{"go run ./cmd/rexec serve", daemon},
		{"go run ./cmd/rexec serve --listen 127.0.0.1:7030", daemon},
		{"rexec serve", daemon},
		{"rexec  serve --listen 0.0.0.0:7022", daemon},
		{"rexec serve --check-config", command},
		{"rexec server", command},
		{"rexec run localhost -- rexec serve", command},
		{"go test ./...", notRun},
		{"go  test ./...", notRun},
		{"go test ./internal/...", command},
		{"go run ./cmd/rexec run localhost true", command},
		{"rexec run localhost -- uname -a", command},
	} {
		if got := lineKind(c.cmd); got != c.want {
			t.Errorf("lineKind(%q) = %v, want %v", c.cmd, got, c.want)
		}
	}
}

func TestParseLineRefuses(t *testing.T) {
	for _, c := range []struct{ line, err string }{
		{"rexec serve   # exits 1", "cannot state an exit status"},
		{"go test ./...   # on the server", "not run by the check"},
		{"go test ./...   # exits 1", "not run by the check"},
		{"go version   # on each server", "on the client only"},
		{"true   # exits 300", "out of range"},
	} {
		if _, _, err := parseLine(c.line); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("parseLine(%q): error %v, want one with %q", c.line, err, c.err)
		}
	}
}

// readmeDoc is a small README with every kind of block and line.
const readmeDoc = "# title\n\n## Set-up\n\n```sh\ngo run ./cmd/rexec serve   # the daemon\ngo test ./...\n```\n\n" +
	"## Tour\n\ntext ``` inline\n\n```\nnot shell # exits 9\n```\n\n```toml\nlisten = 1\n```\n\n" +
	"```sh\n\n# a comment line\nrexec run localhost 'exit 7'   # exits 7: the status\n" +
	"rexec serve --listen 0.0.0.0:7022   # on each server\r\n  rexec trust server.example\n```\n"

func TestParseReadme(t *testing.T) {
	lines, err := parseReadme(readmeDoc)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		num              int
		section, command string
		place            place
		want             int
		kind             kind
	}
	var have []got
	for _, l := range lines {
		have = append(have, got{l.num, l.section, l.command, l.place, l.want, l.kind})
	}
	want := []got{
		{6, "Set-up", "go run ./cmd/rexec serve", onClient, 0, daemon},
		{7, "Set-up", "go test ./...", onClient, 0, notRun},
		{25, "Tour", "rexec run localhost 'exit 7'", onClient, 7, command},
		{26, "Tour", "rexec serve --listen 0.0.0.0:7022", onEachServer, 0, daemon},
		{27, "Tour", "rexec trust server.example", onClient, 0, command},
	}
	if !slices.Equal(have, want) {
		t.Errorf("parseReadme:\n got %v\nwant %v", have, want)
	}
	if lines[2].text != "rexec run localhost 'exit 7'   # exits 7: the status" {
		t.Errorf("text %q: want the line as written, comment included", lines[2].text)
	}

	for _, c := range []struct{ doc, err string }{
		{"```sh\ntrue\n", "README.md:1: the fenced block never closes"},
		{"a\n```bash\ntrue\n```\n", "README.md:2: a ```bash block"},
		{"```console\n$ true\n```\n", "```console block"},
		{"```sh\ntrue\nfalse  # on the serve, exits 1\n```\n", "README.md:3"},
		{"```sh\necho 'open\n```\n", "README.md:2: an unterminated ' quote"},
	} {
		if _, err := parseReadme(c.doc); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("parseReadme(%q): error %v, want one with %q", c.doc, err, c.err)
		}
	}
}

var daemonAddrsCases = []struct {
	cmd  string
	want []string
	err  string
}{
	{cmd: "rexec serve", want: []string{"127.0.0.1:7022"}},
	{cmd: "go run ./cmd/rexec serve", want: []string{"127.0.0.1:7022"}},
	{cmd: "rexec serve --listen 0.0.0.0:7022", want: []string{"0.0.0.0:7022"}},
	{cmd: "rexec serve --legacy-listen 127.0.0.1:8081", want: []string{"127.0.0.1:8081", "127.0.0.1:7022"}},
	{cmd: "rexec serve --listen=127.0.0.1:7023 --legacy-listen=127.0.0.1:8081", want: []string{"127.0.0.1:7023", "127.0.0.1:8081"}},
	{cmd: "rexec serve --listen 127.0.0.1:7023 --listen [::1]:7023", want: []string{"127.0.0.1:7023", "[::1]:7023"}},
	{cmd: "rexec serve --metrics 127.0.0.1:9122 --audit-log a.log", want: []string{"127.0.0.1:9122", "127.0.0.1:7022"}},
	{cmd: "rexec serve --listen", err: "without an address"},
	{cmd: "rexec serve --legacy-listen 8081", err: "missing port"},
	{cmd: "rexec serve --listen=", err: "missing port"},
}

func TestDaemonAddrs(t *testing.T) {
	for _, c := range daemonAddrsCases {
		got, err := daemonAddrs(c.cmd)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("daemonAddrs(%q): error %v, want one with %q", c.cmd, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("daemonAddrs(%q) = %q, %v; want %q", c.cmd, got, err, c.want)
		}
	}
}

func TestConflict(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"127.0.0.1:7022", "127.0.0.1:7022", true},
		{"127.0.0.1:7022", "127.0.0.1:7023", false},
		{"127.0.0.1:7022", "127.0.0.2:7022", false},
		{"0.0.0.0:8081", "127.0.0.1:8081", true},
		{"127.0.0.1:8081", "0.0.0.0:8081", true},
		{"[::]:7022", "127.0.0.1:7022", true},
		{":7022", "[::1]:7022", true},
		{"[::1]:7022", "127.0.0.1:7022", false},
		{"0.0.0.0:7022", "0.0.0.0:7023", false},
		{"nonsense", "nonsense", false},
	} {
		if got := conflict(c.a, c.b); got != c.want {
			t.Errorf("conflict(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

// TestVerdict: a line passes only when it exits with the status it
// states; a timeout or a signal never passes.
func TestVerdict(t *testing.T) {
	for _, c := range []struct {
		want, status int
		timedOut     bool
		err          string
	}{
		{want: 0, status: 0},
		{want: 7, status: 7},
		{want: 0, status: 1, err: "exited 1; the README says it exits 0"},
		{want: 7, status: 0, err: "exited 0; the README says it exits 7"},
		{want: 124, status: 1, err: "exited 1"},
		{want: 0, status: -1, err: "killed by a signal"},
		{want: 0, status: -1, timedOut: true, err: "did not end within"},
		{want: 124, status: 124, timedOut: true, err: "did not end within"},
	} {
		err := verdict(tourLine{want: c.want}, c.status, c.timedOut)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("verdict(want %d, status %d, timed out %v) = %v, want nil", c.want, c.status, c.timedOut, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("verdict(want %d, status %d, timed out %v) = %v, want an error with %q", c.want, c.status, c.timedOut, err, c.err)
		}
	}
}

// TestReadmeConventions reads the real README.md (on any system, as any
// user): it follows the conventions, its set-up block is exactly the two
// commands it promises, `go test ./...` is the only line not run, and
// every daemon line's addresses can be read.
func TestReadmeConventions(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines, err := parseReadme(string(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) < 2 || lines[0].command != "go run ./cmd/rexec serve" || lines[1].command != theTestCommand ||
		lines[0].section != lines[1].section || (len(lines) > 2 && lines[2].section == lines[0].section) {
		t.Errorf("the README's first block is not exactly the set-up commands `go run ./cmd/rexec serve` and `%s`", theTestCommand)
	}
	kinds, places := map[kind]int{}, map[place]int{}
	for _, l := range lines {
		kinds[l.kind]++
		places[l.place]++
		if l.kind == daemon {
			if _, err := daemonAddrs(l.command); err != nil {
				t.Errorf("README.md:%d: %v", l.num, err)
			}
		}
	}
	if kinds[notRun] != 1 {
		t.Errorf("%d lines are not run; only %q may be", kinds[notRun], theTestCommand)
	}
	if kinds[command] == 0 || kinds[daemon] == 0 || places[onEachServer] == 0 {
		t.Errorf("the README has %d commands, %d daemons and %d lines on each server: the tour is missing", kinds[command], kinds[daemon], places[onEachServer])
	}
}

// FuzzParseReadme: whatever the document, parseReadme returns or refuses
// it without panicking; every line it returns is one of the document's,
// with its command a prefix of it, a status in range, and the same
// reading when parsed again; splitComment's command is a prefix of the
// line and its comment comes after it.
func FuzzParseReadme(f *testing.F) {
	f.Add(readmeDoc)
	for _, c := range splitCommentCases {
		f.Add("```sh\n" + c.line + "\n```\n")
	}
	for _, c := range parseCommentCases {
		f.Add("## S\n```sh\ntrue # " + c.comment + "\n```\n")
	}
	f.Fuzz(func(t *testing.T, doc string) {
		for _, s := range strings.Split(doc, "\n") {
			cmd, comment, err := splitComment(s)
			if err != nil {
				continue
			}
			if !strings.HasPrefix(s, cmd) || (comment != "" && !strings.Contains(s[len(cmd):], comment)) {
				t.Fatalf("splitComment(%q) = %q, %q: not the line's parts", s, cmd, comment)
			}
		}
		lines, err := parseReadme(doc)
		if err != nil {
			return
		}
		docLines := strings.Split(doc, "\n")
		for _, l := range lines {
			if l.num < 1 || l.num > len(docLines) || strings.TrimSpace(docLines[l.num-1]) != l.text {
				t.Fatalf("line %d %q is not the document's", l.num, l.text)
			}
			if l.command == "" || !strings.HasPrefix(l.text, l.command) || l.want < 0 || l.want > maxStatus {
				t.Fatalf("line %d: command %q, status %d", l.num, l.command, l.want)
			}
			again, ok, err := parseLine(l.text)
			if err != nil || !ok || again.command != l.command || again.place != l.place || again.want != l.want || again.kind != l.kind {
				t.Fatalf("line %d %q reads differently again: %+v, %v", l.num, l.text, again, err)
			}
		}
	})
}

// FuzzDaemonAddrs: daemonAddrs never panics; what it returns is at least
// one host:port, each conflicting with itself; conflict is symmetric.
func FuzzDaemonAddrs(f *testing.F) {
	for _, c := range daemonAddrsCases {
		f.Add(c.cmd)
	}
	f.Fuzz(func(t *testing.T, cmd string) {
		addrs, err := daemonAddrs(cmd)
		if err != nil {
			return
		}
		if len(addrs) == 0 {
			t.Fatalf("daemonAddrs(%q): no address", cmd)
		}
		for _, a := range addrs {
			if _, _, err := net.SplitHostPort(a); err != nil || !conflict(a, a) {
				t.Fatalf("daemonAddrs(%q): %q (%v) does not conflict with itself", cmd, a, err)
			}
			for _, b := range addrs {
				if conflict(a, b) != conflict(b, a) {
					t.Fatalf("conflict(%q, %q) is not symmetric", a, b)
				}
			}
		}
	})
}
