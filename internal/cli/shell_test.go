package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/rexectest"
)

// tmuxPane drives a real terminal: a tmux server on its own socket with one
// window running bash, into which the test types as a user would.
type tmuxPane struct {
	t      *testing.T
	socket string
}

func newTmuxPane(t *testing.T, home string, cols, rows int) *tmuxPane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is required in CI (.ci/run installs it)")
		}
		t.Skip("tmux not installed")
	}
	p := &tmuxPane{t: t, socket: fmt.Sprintf("rexec-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	shell := fmt.Sprintf("env REXEC_HOME=%s TERM=screen-256color PS1='local$ ' PATH=%s:$PATH bash --norc --noprofile",
		home, filepath.Dir(rexecBin))
	p.tmux("new-session", "-d", "-x", strconv.Itoa(cols), "-y", strconv.Itoa(rows), shell)
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", p.socket, "kill-server").Run() })
	p.waitFor(regexp.MustCompile(`(?m)^local\$`), "local prompt")
	return p
}

func (p *tmuxPane) tmux(args ...string) string {
	p.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", p.socket}, args...)...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %v: %v: %s", args, err, out)
	}
	return string(out)
}

// send types keys (tmux key names allowed, e.g. "Enter", "C-c").
func (p *tmuxPane) send(keys ...string) { p.tmux(append([]string{"send-keys"}, keys...)...) }

// line types one line and Enter.
func (p *tmuxPane) line(s string) { p.send("-l", s); p.send("Enter") }

func (p *tmuxPane) screen() string { return p.tmux("capture-pane", "-p", "-S", "-200") }

// waitFor polls the screen until re matches, for at most 15 s, and returns
// the submatches.
func (p *tmuxPane) waitFor(re *regexp.Regexp, what string) []string {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := p.screen()
		if m := re.FindStringSubmatch(s); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s; screen:\n%s", what, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mark types a command that prints a marker line, and waits for it: the
// typed command shows MARK$((n)), only the output shows MARKn.
var markN int

func (p *tmuxPane) mark() {
	p.t.Helper()
	markN++
	p.line(fmt.Sprintf("echo MARK$((%d))", markN))
	p.waitFor(regexp.MustCompile(fmt.Sprintf(`(?m)^MARK%d\s*$`, markN)), fmt.Sprintf("MARK%d", markN))
}

// sttyState returns the local terminal's settings without the size line.
func sttyState(t *testing.T, p *tmuxPane, file string) string {
	p.line("stty -a > " + file)
	p.mark()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "\n")
	return rest
}

func TestShellOnTerminal(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	p := newTmuxPane(t, home, 100, 30)
	dir := t.TempDir()
	before := sttyState(t, p, filepath.Join(dir, "stty.before"))

	p.line("rexec shell " + d.host())
	p.line("tty; echo TERM=$TERM; stty size")
	p.mark()
	s := p.screen()
	for _, want := range []string{"/dev/pts/", "TERM=screen-256color", "30 100"} {
		if !strings.Contains(s, want) {
			t.Errorf("remote shell screen lacks %q:\n%s", want, s)
		}
	}
	p.tmux("resize-window", "-x", "120", "-y", "40")
	p.line("stty size")
	p.waitFor(regexp.MustCompile(`(?m)^40 120\s*$`), "new size 40 120 after resize")

	// A full-screen program: vi edits and saves a file.
	file := filepath.Join(dir, "edited.txt")
	p.line("vi " + file)
	// Wait until vi has drawn its empty buffer (lines of "~"): keys typed
	// while bash is still starting it can be lost on a loaded machine.
	p.waitFor(regexp.MustCompile(`(?m)^~\s*$`), "vi's empty buffer")
	p.send("i")
	p.send("-l", "hello from vi")
	p.send("Escape")
	p.send("-l", ":wq")
	p.send("Enter")
	// Wait for the shell's prompt under the vi command line: vi resets the
	// terminal as it exits, which discards input typed before that.
	p.waitFor(regexp.MustCompile(`(?m)edited\.txt *\n\S*[#$] *$`), "the prompt after vi exits")
	p.mark()
	if b, _ := os.ReadFile(file); strings.TrimSpace(string(b)) != "hello from vi" {
		t.Errorf("file written by remote vi holds %q", b)
	}

	// Ctrl-C interrupts the remote command, not the shell.
	p.line("sleep 100")
	time.Sleep(300 * time.Millisecond)
	p.send("C-c")
	p.mark()

	p.line("exit 3")
	p.waitFor(regexp.MustCompile(`(?m)^local\$\s*$`), "local prompt after exit")
	p.line("echo RC=$?")
	p.waitFor(regexp.MustCompile(`(?m)^RC=3\s*$`), "exit status 3 of the client")

	p.tmux("resize-window", "-x", "100", "-y", "30")
	if after := sttyState(t, p, filepath.Join(dir, "stty.after")); after != before {
		t.Errorf("local terminal settings changed:\nbefore %s\nafter  %s", before, after)
	}
}

func TestShellEscapeDropsHungSession(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	p := newTmuxPane(t, home, 100, 30)
	dir := t.TempDir()
	before := sttyState(t, p, filepath.Join(dir, "stty.before"))
	p.line("rexec shell " + d.host())
	p.line("echo SHPID=$$")
	shpid, _ := strconv.Atoi(p.waitFor(regexp.MustCompile(`(?m)^SHPID=(\d+)`), "remote shell pid")[1])
	p.line("sleep 1000") // the remote side hangs
	time.Sleep(300 * time.Millisecond)
	p.send("Enter")
	p.send("-l", "~.")
	p.waitFor(regexp.MustCompile(`closed \(~\.\)`), "escape message")
	p.line("echo RC=$?")
	p.waitFor(regexp.MustCompile(`(?m)^RC=255\s*$`), "exit status 255 after ~.")
	if alive := rexectest.WaitGone(3*time.Second, shpid); len(alive) > 0 {
		t.Errorf("remote shell %d survived ~.", shpid)
	}
	if after := sttyState(t, p, filepath.Join(dir, "stty.after")); after != before {
		t.Errorf("local terminal settings changed:\nbefore %s\nafter  %s", before, after)
	}
}

// TestShellClientKilled: the remote shell and its children die within 2 s
// of the client's connection going away.
func TestShellClientKilled(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	p := newTmuxPane(t, home, 100, 30)
	p.line("rexec shell " + d.host())
	p.line("sleep 1001 & setsid sleep 1002 & echo PIDS=$$,$!")
	m := p.waitFor(regexp.MustCompile(`(?m)^PIDS=(\d+),(\d+)`), "remote pids")
	var pids []int
	for _, s := range m[1:] {
		n, _ := strconv.Atoi(s)
		pids = append(pids, n)
	}
	client := findChild(t, p, "rexec")
	if err := client.Kill(); err != nil {
		t.Fatal(err)
	}
	if alive := rexectest.WaitGone(2*time.Second, pids...); len(alive) > 0 {
		t.Errorf("remote processes %v survived the client by 2 s", alive)
	}
}

// findChild finds the process named comm among the pane shell's children.
func findChild(t *testing.T, p *tmuxPane, comm string) *os.Process {
	t.Helper()
	panePid := strings.TrimSpace(p.tmux("display-message", "-p", "#{pane_pid}"))
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) > 3 && f[1] == "("+comm+")" && f[3] == panePid {
			pid, _ := strconv.Atoi(e.Name())
			proc, err := os.FindProcess(pid)
			if err != nil {
				t.Fatal(err)
			}
			return proc
		}
	}
	t.Fatalf("no %s process under pane %s", comm, panePid)
	return nil
}
