package session

import (
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want Status
	}{
		{"zero", Spec{Command: "true"}, Status{Code: 0}},
		{"exit 7", Spec{Command: "exit 7"}, Status{Code: 7}},
		{"exit 255", Spec{Argv: []string{"sh", "-c", "exit 255"}}, Status{Code: 255}},
		{"self SIGKILL", Spec{Command: "kill -KILL $$"}, Status{Code: -1, Signal: syscall.SIGKILL}},
		{"self SIGTERM", Spec{Command: "kill -TERM $$"}, Status{Code: -1, Signal: syscall.SIGTERM}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := run(t, tt.spec, "").status; got != tt.want {
				t.Errorf("status = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOutput(t *testing.T) {
	tests := []struct {
		name           string
		spec           Spec
		input          string
		stdout, stderr string
	}{
		{"argv literal", Spec{Argv: []string{"printf", `%s\n`, "a b", "$(id)", "*"}}, "", "a b\n$(id)\n*\n", ""},
		{"separated", Spec{Command: `printf 'out\n'; printf 'err\n' >&2; printf '\000\377'`}, "", "out\n\x00\xff", "err\n"},
		{"stdin eof", Spec{Argv: []string{"wc", "-l"}}, "a\nb\n", "2\n", ""},
		{"stdin cat", Spec{Argv: []string{"cat"}}, "x\x00y", "x\x00y", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.spec, tt.input)
			if strings.TrimLeft(r.stdout, " ") != tt.stdout || r.stderr != tt.stderr {
				t.Errorf("stdout, stderr = %q, %q; want %q, %q", r.stdout, r.stderr, tt.stdout, tt.stderr)
			}
			if r.status != (Status{}) {
				t.Errorf("status = %v, want exit 0", r.status)
			}
		})
	}
}

func TestEnvironment(t *testing.T) {
	p, err := Start(Spec{Argv: []string{"env"}, Env: []string{"FOO=bar baz", "PATH=/usr/bin:/bin", "REXEC_SESSION=forged"}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeProcess(t, p)
	out, _ := io.ReadAll(p.Stdout())
	env := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	acct := currentAccount()
	for _, want := range []string{"FOO=bar baz", "PATH=/usr/bin:/bin", "REXEC_SESSION=" + p.ID(),
		"HOME=" + acct.home, "USER=" + acct.name, "LOGNAME=" + acct.name, "SHELL=" + acct.shell} {
		if envValue(env, strings.SplitN(want, "=", 2)[0]) != strings.SplitN(want, "=", 2)[1] {
			t.Errorf("env lacks %q; got %q", want, env)
		}
	}
	if v := envValue(env, "TERM"); v != "" {
		t.Errorf("TERM = %q without a PTY, want unset", v)
	}
	if len(p.ID()) != 16 {
		t.Errorf("ID() = %q, want 16 hex digits", p.ID())
	}
}

func TestDir(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		dir, want string
	}{
		{dir, dir},
		{"", currentAccount().home},
	}
	for _, tt := range tests {
		if got := run(t, Spec{Argv: []string{"pwd"}, Dir: tt.dir}, "").stdout; got != tt.want+"\n" {
			t.Errorf("pwd in Dir %q = %q, want %q", tt.dir, got, tt.want)
		}
	}
}

func TestLoginShell(t *testing.T) {
	r := run(t, Spec{Login: true}, "echo $0\nexit 3\n")
	want := "-" + strings.TrimPrefix(currentAccount().shell[strings.LastIndex(currentAccount().shell, "/"):], "/")
	if !strings.Contains(r.stdout, want+"\n") || r.status.Code != 3 {
		t.Errorf("login shell: stdout %q status %v; want %q and exit 3", r.stdout, r.status, want)
	}
}

func TestStartErrors(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		is   error
	}{
		{"missing program", Spec{Argv: []string{"no-such-program-rexec"}}, errNotFound},
		{"missing path", Spec{Argv: []string{"/no/such/program"}}, syscall.ENOENT},
		{"bad dir", Spec{Argv: []string{"true"}, Dir: "/no/such/dir"}, syscall.ENOENT},
		{"empty", Spec{}, ErrEmptyCommand},
		{"bad env", Spec{Argv: []string{"true"}, Env: []string{"NOEQUALS"}}, ErrBadEnv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Start(tt.spec)
			if err == nil {
				_ = p.Close()
				t.Fatalf("Start(%+v) succeeded, want error", tt.spec)
			}
			if !errors.Is(err, tt.is) || !strings.HasPrefix(err.Error(), "session: ") {
				t.Errorf("Start(%+v) = %v, want %v with session prefix", tt.spec, err, tt.is)
			}
		})
	}
}

func TestSignal(t *testing.T) {
	p, err := Start(Spec{Argv: []string{"sleep", "100"}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeProcess(t, p)
	if err := p.Signal(syscall.SIGINT); err != nil {
		t.Fatalf("Signal(SIGINT) = %v", err)
	}
	if st := waitTimeout(t, p, 5*time.Second); st.Signal != syscall.SIGINT || st.Code != -1 {
		t.Errorf("status = %v, want killed by SIGINT", st)
	}
	if err := p.Resize(1, 1); !errors.Is(err, ErrNoPTY) {
		t.Errorf("Resize without PTY = %v, want ErrNoPTY", err)
	}
	_ = p.Close()
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, ErrClosed) {
		t.Errorf("Signal after Close = %v, want ErrClosed", err)
	}
}

// TestKillTreeConcurrent calls KillTree, Wait and Close from several
// goroutines at once; the race detector and goleak judge.
func TestKillTreeConcurrent(t *testing.T) {
	p, err := Start(Spec{Command: "sleep 100 & sleep 100"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for i := 0; i < 4; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			switch i {
			case 0:
				p.Wait()
			case 1:
				_ = p.Close()
			default:
				p.KillTree(100 * time.Millisecond)
			}
		}()
	}
	for i := 0; i < 4; i++ {
		<-done
	}
	if st := p.Wait(); st.Signal != syscall.SIGTERM {
		t.Errorf("status = %v, want killed by SIGTERM", st)
	}
	closeProcess(t, p)
}

func TestStdoutEOFAfterKill(t *testing.T) {
	p, err := Start(Spec{Command: "sleep 100 & echo started; wait"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeProcess(t, p)
	buf := make([]byte, 8)
	if n, err := io.ReadFull(p.Stdout(), buf); n != 8 || err != nil {
		t.Fatalf("reading started = %d, %v", n, err)
	}
	p.KillTree(DefaultGrace)
	if rest, err := io.ReadAll(p.Stdout()); err != nil || len(rest) != 0 {
		t.Errorf("after KillTree: ReadAll = %q, %v; want EOF", rest, err)
	}
}

func TestPasswdParse(t *testing.T) {
	const passwd = "root:x:0:0:root:/root:/bin/bash\nbad line\nalice:x:1000:1000:A:/home/alice:/bin/zsh\n"
	tests := []struct {
		uid  int
		want account
		ok   bool
	}{
		{0, account{"root", "/root", "/bin/bash"}, true},
		{1000, account{"alice", "/home/alice", "/bin/zsh"}, true},
		{42, account{}, false},
	}
	for _, tt := range tests {
		got, err := parsePasswd(strings.NewReader(passwd), tt.uid)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("parsePasswd(uid %d) = %+v, %v; want %+v, ok %v", tt.uid, got, err, tt.want, tt.ok)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	got := strings.Join(mergeEnv([]string{"A=1", "B=2"}, "B=3", "C=4", "A=5"), " ")
	if want := "A=5 B=3 C=4"; got != want {
		t.Errorf("mergeEnv = %q, want %q", got, want)
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/prog", []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := lookPath("prog", "relative:"+dir); got != dir+"/prog" || err != nil {
		t.Errorf("lookPath(prog) = %q, %v; want %q", got, err, dir+"/prog")
	}
	if _, err := lookPath("prog", "."); !errors.Is(err, errNotFound) {
		t.Errorf("lookPath with relative PATH = %v, want errNotFound", err)
	}
}
