package session

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ptyOutputBuffer collects a PTY session's output in the background.
type ptyOutputBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

func readPTY(p *Process) *ptyOutputBuffer {
	b := &ptyOutputBuffer{done: make(chan struct{})}
	go func() {
		defer close(b.done)
		chunk := make([]byte, 4096)
		for {
			n, err := p.Stdout().Read(chunk)
			b.mu.Lock()
			b.buf.Write(chunk[:n])
			b.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return b
}

func (b *ptyOutputBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *ptyOutputBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	if !eventually(5*time.Second, func() bool { return strings.Contains(b.String(), s) }) {
		t.Fatalf("PTY output %q lacks %q", b.String(), s)
	}
}

// runPTY runs spec on a PTY and returns the whole output (EOF, not EIO,
// ends it) and status.
func runPTY(t *testing.T, spec Spec) (string, Status) {
	t.Helper()
	p, err := Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer closeProcess(t, p)
	out, err := io.ReadAll(p.Stdout())
	if err != nil {
		t.Errorf("reading PTY: %v, want EOF", err)
	}
	if n, err := p.Stderr().Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("PTY Stderr().Read = %d, %v; want 0, EOF", n, err)
	}
	return string(out), waitTimeout(t, p, 5*time.Second)
}

func TestPTY(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want string // regexp
	}{
		{"tty", Spec{Argv: []string{"tty"}, PTY: &PTYSpec{}}, `^/dev/pts/\d+\r\n$`},
		{"size", Spec{Argv: []string{"stty", "size"}, PTY: &PTYSpec{Rows: 24, Cols: 80}}, `^24 80\r\n$`},
		{"term", Spec{Command: "echo $TERM", PTY: &PTYSpec{Term: "xterm-256color"}}, `^xterm-256color\r\n$`},
		{"default term", Spec{Command: "echo $TERM", PTY: &PTYSpec{}}, `^` + DefaultTerm + `\r\n$`},
		{"exit code", Spec{Command: "echo hi; exit 5", PTY: &PTYSpec{}}, `^hi\r\n$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, st := runPTY(t, tt.spec)
			if !regexp.MustCompile(tt.want).MatchString(out) {
				t.Errorf("output = %q, want match %q", out, tt.want)
			}
			if wantCode := map[bool]int{true: 5, false: 0}[tt.name == "exit code"]; st.Code != wantCode {
				t.Errorf("status = %v, want exit %d", st, wantCode)
			}
		})
	}
}

func TestPTYResize(t *testing.T) {
	p, err := Start(Spec{Command: "stty size; read line; stty size", PTY: &PTYSpec{Rows: 24, Cols: 80}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeProcess(t, p)
	out := readPTY(p)
	out.waitFor(t, "24 80\r\n")
	if err := p.Resize(50, 132); err != nil {
		t.Fatalf("Resize = %v", err)
	}
	if _, err := io.WriteString(p.Stdin(), "go\n"); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "50 132\r\n")
	<-out.done
}

// TestPTYStdinClose: closing Stdin types ^D, which ends cat's input.
func TestPTYStdinClose(t *testing.T) {
	for _, input := range []string{"hello\n", "no newline"} {
		p, err := Start(Spec{Argv: []string{"cat"}, PTY: &PTYSpec{}})
		if err != nil {
			t.Fatal(err)
		}
		out := readPTY(p)
		_, _ = io.WriteString(p.Stdin(), input)
		if err := p.Stdin().Close(); err != nil {
			t.Errorf("Stdin().Close() = %v", err)
		}
		if st := waitTimeout(t, p, 5*time.Second); st != (Status{}) {
			t.Errorf("cat after ^D: status = %v, want exit 0", st)
		}
		<-out.done
		closeProcess(t, p)
	}
}

// TestPTYSignal: SIGINT reaches the terminal's foreground group (the
// pipeline run by an interactive shell, not the shell itself).
func TestPTYSignal(t *testing.T) {
	p, err := Start(Spec{Argv: []string{"sh", "-i"}, Env: []string{"PS1=ready> "}, PTY: &PTYSpec{}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeProcess(t, p)
	out := readPTY(p)
	out.waitFor(t, "ready> ")
	d := uniqueSleep(100)
	_, _ = io.WriteString(p.Stdin(), "sleep "+d+"\n")
	if !eventually(5*time.Second, func() bool { return len(sleepers(d)) > 0 }) {
		t.Fatal("sleep did not start")
	}
	if err := p.Signal(syscall.SIGINT); err != nil {
		t.Fatalf("Signal(SIGINT) = %v", err)
	}
	if !eventually(5*time.Second, func() bool { return strings.Count(out.String(), "ready> ") == 2 }) {
		t.Fatalf("no prompt after SIGINT: %q", out.String())
	}
	_, _ = io.WriteString(p.Stdin(), "echo status=$?\n")
	out.waitFor(t, "status=130")
	_, _ = io.WriteString(p.Stdin(), "exit 4\n")
	if st := waitTimeout(t, p, 5*time.Second); st.Code != 4 {
		t.Errorf("shell status = %v, want exit 4 (it must survive the SIGINT)", st)
	}
	<-out.done
}
