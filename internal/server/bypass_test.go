//go:build linux

package server

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rexec-dev/rexec/internal/audit"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// bypassFixture holds the attacker's payloads of TestPolicyBypass. Each
// payload, if it ever runs, creates the sentinel file with a direct write
// (a shell redirection, or open(2) in a library constructor): nothing in
// it starts a program, so nothing can recurse.
type bypassFixture struct {
	sentinel string
	bashEnv  string // a shell script: BASH_ENV, ENV
	evilBin  string // a PATH directory planting ls, date, id, tail
	evilSO   string // an LD_PRELOAD library
	hostKey  string // a private key file a restricted key must never read
	hostPub  []byte // its content, to recognise it in any answer
}

func newBypassFixture(t *testing.T) *bypassFixture {
	t.Helper()
	dir := t.TempDir()
	fx := &bypassFixture{sentinel: filepath.Join(dir, "sentinel"), bashEnv: filepath.Join(dir, "bash_env"),
		evilBin: filepath.Join(dir, "evilbin"), evilSO: filepath.Join(dir, "evil.so"),
		hostKey: filepath.Join(dir, "host_ed25519_key")}
	payload := "#!/bin/sh\n: > " + fx.sentinel + "\n"
	must(t, os.WriteFile(fx.bashEnv, []byte(payload), 0o755))
	must(t, os.Mkdir(fx.evilBin, 0o755))
	for _, name := range []string{"ls", "date", "id", "tail"} {
		must(t, os.WriteFile(filepath.Join(fx.evilBin, name), []byte(payload), 0o755))
	}
	fx.hostPub = []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-host-key-material\n")
	must(t, os.WriteFile(fx.hostKey, fx.hostPub, 0o600))
	src := filepath.Join(dir, "evil.c")
	must(t, os.WriteFile(src, []byte(`#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void planted(void) {
	int fd = open("`+fx.sentinel+`", O_WRONLY | O_CREAT, 0600);
	if (fd >= 0) close(fd);
}
`), 0o644))
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-o", fx.evilSO, src).CombinedOutput(); err != nil {
		t.Fatalf("building the LD_PRELOAD payload (gcc is needed; .ci/run installs it): %v\n%s", err, out)
	}
	return fx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// planted reports (and removes) the sentinel: a payload ran.
func (fx *bypassFixture) planted() bool {
	_, err := os.Stat(fx.sentinel)
	os.Remove(fx.sentinel)
	return err == nil
}

// bypassVector is one thing a client with a restricted key may try.
type bypassVector struct {
	name string
	req  protocol.Message
	// commands marks a vector that is harmless only for a line limiting
	// commands (command=, allow=): restrict or no-pty alone lets a key run
	// anything by design, as in sshd.
	commands bool
	// files marks a file request: refused unless the line transfers files.
	files bool
}

// bypassVectors are the attempts: dangerous variables, a working
// directory, a terminal, shell and login-shell requests, an allow-list
// escape, and file requests for key files and authorized_keys.
func (fx *bypassFixture) vectors(keysPath string) []bypassVector {
	touch := ": > " + fx.sentinel
	envExec := func(name string, env map[string]string, req protocol.Exec) bypassVector {
		req.Env = env
		return bypassVector{name: name, req: req}
	}
	dateArgv := protocol.Exec{Argv: []string{"date"}}
	v := []bypassVector{
		envExec("BASH_ENV", map[string]string{"BASH_ENV": fx.bashEnv}, protocol.Exec{Command: "date; true"}),
		envExec("ENV", map[string]string{"ENV": fx.bashEnv}, protocol.Exec{Command: "date; true"}),
		envExec("PATH", map[string]string{"PATH": fx.evilBin}, protocol.Exec{Argv: []string{"ls", "/"}}),
		envExec("LD_PRELOAD", map[string]string{"LD_PRELOAD": fx.evilSO}, protocol.Exec{Argv: []string{"/usr/bin/id"}}),
		envExec("LD_LIBRARY_PATH", map[string]string{"LD_LIBRARY_PATH": filepath.Dir(fx.evilSO)}, dateArgv),
		envExec("BASH_FUNC", map[string]string{"BASH_FUNC_date%%": "() { " + touch + "; }"}, protocol.Exec{Command: "date; true"}),
		envExec("SHELLOPTS and PS4", map[string]string{"SHELLOPTS": "xtrace", "PS4": "$(" + touch + ")"}, protocol.Exec{Command: "date; true"}),
		envExec("IFS", map[string]string{"IFS": "/"}, dateArgv),
		envExec("GCONV_PATH", map[string]string{"GCONV_PATH": fx.evilBin}, dateArgv),
		envExec("GLIBC_TUNABLES", map[string]string{"GLIBC_TUNABLES": "glibc.malloc.check=3"}, dateArgv),
		envExec("PYTHONSTARTUP", map[string]string{"PYTHONSTARTUP": fx.bashEnv}, dateArgv),
		envExec("HOME", map[string]string{"HOME": filepath.Dir(fx.sentinel)}, dateArgv),
		envExec("GIT_CONFIG_COUNT", map[string]string{"GIT_CONFIG_COUNT": "1"}, dateArgv),
		envExec("locale path", map[string]string{"LC_ALL": filepath.Dir(fx.sentinel)}, dateArgv),
		envExec("unlisted name", map[string]string{"FOO": "bar"}, dateArgv),
		{name: "working directory", req: protocol.Exec{Argv: []string{"date"}, Cwd: filepath.Dir(fx.hostKey)}},
		{name: "terminal with a shell string", req: protocol.Exec{Command: touch, PTY: true}, commands: true},
		{name: "shell string", req: protocol.Exec{Command: touch}, commands: true},
		{name: "login shell", req: protocol.Exec{}, commands: true},
		{name: "argv of a planted path", req: protocol.Exec{Argv: []string{filepath.Join(fx.evilBin, "id")}}, commands: true},
		{name: "allow-list escape with ..", req: protocol.Exec{Argv: []string{"tail", "-n", "5", "/var/log/../.." + fx.hostKey}}, commands: true},
		{name: "allow-list escape with a second file", req: protocol.Exec{Argv: []string{"tail", "-n", "5", "/var/log/x", fx.hostKey}}, commands: true},
		{name: "stat of the host key", req: protocol.Stat{Path: fx.hostKey}, files: true},
		{name: "get of the host key", req: protocol.Get{Path: fx.hostKey}, files: true},
		{name: "get of authorized_keys", req: protocol.Get{Path: keysPath}, files: true},
		{name: "put over authorized_keys", req: protocol.Put{Path: filepath.Dir(keysPath), Name: "authorized_keys",
			Kind: protocol.KindFile, Length: 1, Mode: 0o600}, files: true},
	}
	return v
}

// TestPolicyBypass is the rule of docs/SECURITY.md tried as an attacker
// would, on real sockets and processes: for each restricted authorized_keys
// line, every vector is refused or harmless. The proof is a sentinel file
// that no payload managed to create, a host key whose bytes never reach
// the client, an authorized_keys never changed, and an audit record of
// every attempt. An unrestricted key, for contrast, does run the payloads:
// they work, so their absence means something.
func TestPolicyBypass(t *testing.T) {
	fx := newBypassFixture(t)
	logPath := filepath.Join(t.TempDir(), "audit.log")
	log, err := audit.Open(logPath)
	must(t, err)
	defer log.Close()
	ts := startServer(t, Config{Audit: log})

	t.Run("unrestricted control", func(t *testing.T) {
		ts.withOptions(t, "")
		r := ts.dial(t).mustRun(t, protocol.Exec{Argv: []string{"/usr/bin/id"},
			Env: map[string]string{"LD_PRELOAD": fx.evilSO}}, "")
		if r.exit == nil || !fx.planted() {
			t.Fatalf("an unrestricted key's LD_PRELOAD payload did not run (%v): the vectors prove nothing", r)
		}
	})

	lines := []struct {
		opts           string
		limitsCommands bool
		transfers      bool
	}{
		{`command="/usr/bin/date"`, true, false},
		{`restrict,command="/usr/bin/date"`, true, false},
		{`allow="tail -n 5 /var/log/*,date,ls **"`, true, false},
		{`restrict,allow="tail -n 5 /var/log/*,date,ls **"`, true, false},
		{`restrict`, false, false},
		{`restrict,pty`, false, false},
		{`no-pty`, false, true},
		{`no-file-transfer`, false, false},
	}
	attempts := 0
	for _, line := range lines {
		ts.withOptions(t, line.opts)
		keys, err := os.ReadFile(ts.keysPath)
		must(t, err)
		for _, v := range fx.vectors(ts.keysPath) {
			if v.commands && !line.limitsCommands || v.files && line.transfers {
				continue // allowed by design for this line
			}
			t.Run(line.opts+"/"+v.name, func(t *testing.T) {
				attempts++
				answer := attempt(t, ts, v.req)
				if fx.planted() {
					t.Errorf("the payload ran: %s", answer)
				}
				if bytes.Contains([]byte(answer), fx.hostPub[len(fx.hostPub)-20:]) {
					t.Errorf("the host key reached the client: %s", answer)
				}
				if got, _ := os.ReadFile(ts.keysPath); !bytes.Equal(got, keys) {
					t.Fatalf("authorized_keys changed to %q", got)
				}
			})
		}
	}

	recs := readAudit(t, logPath)
	ends := 0
	for _, r := range recs {
		if r.Event == audit.EventEnd && r.Kind != kindAuth {
			ends++
			if r.Fingerprint == "" || r.Outcome == "" {
				t.Errorf("audit record without key or outcome: %+v", r)
			}
		}
	}
	if want := attempts + 1; ends != want { // + the control
		t.Errorf("audit log has %d end records, want one per attempt: %d", ends, want)
	}
}

// attempt sends one request on a new connection and returns, as text,
// everything the server answered.
func attempt(t *testing.T, ts *testServer, req protocol.Message) string {
	t.Helper()
	c := ts.dial(t)
	must(t, c.send(req))
	var b strings.Builder
	switch req := req.(type) {
	case protocol.Exec:
		must(t, c.send(protocol.StdinEOF{}))
		r, err := c.collect()
		if err != nil {
			t.Fatalf("exec: %v (so far %v)", err, r)
		}
		if r.err != nil && r.err.Code != protocol.CodeDenied {
			t.Errorf("refused with %s, want denied: %s", r.err.Code, r.err.Message)
		}
		if r.err == nil && (req.Command != "" || len(req.Argv) != 1 || req.Argv[0] != "date") && !strings.Contains(r.stdout, "UTC") {
			t.Errorf("ran something other than the forced command: %v", r)
		}
		b.WriteString(r.String())
	default:
		if _, ok := req.(protocol.Put); ok {
			must(t, c.send(protocol.Data{Stream: protocol.TypeFileData, Body: []byte("x")}))
			must(t, c.send(fileEnd([]byte("x"))))
		}
		fileAnswer(t, c, req, &b)
	}
	return b.String()
}

// fileAnswer reads the answer to a file request into b, expecting a
// refusal: an error "denied" (then get_end, for a get).
func fileAnswer(t *testing.T, c *testClient, req protocol.Message, b *strings.Builder) {
	refused := false
	for range 10 { // a refusal is a few frames
		m, err := c.recv()
		if err != nil {
			t.Fatalf("%s: %v", req.Type(), err)
		}
		b.WriteString(m.Type() + " ")
		switch m := m.(type) {
		case protocol.Data:
			b.Write(m.Body)
		case protocol.Error:
			b.WriteString(m.Message + " ")
			if m.Code != protocol.CodeDenied {
				t.Errorf("%s refused with %s, want denied", req.Type(), m.Code)
			}
			refused = true
			if _, isGet := req.(protocol.Get); !isGet {
				return
			}
		case protocol.GetEnd, protocol.StatResult, protocol.PutOK:
			if !refused {
				t.Errorf("%s was served: %s", req.Type(), b.String())
			}
			return
		}
	}
	t.Errorf("%s: no end of the answer among 10 frames: %s", req.Type(), b.String())
}
