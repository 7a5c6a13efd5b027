package cli_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// keyWorld is a daemon (penalties on: every connection here must
// authenticate at its first try) and a client with no rexec identity at
// all: an empty rexec home that trusts the daemon's host key, and an
// empty HOME, so only the keys a test adds are there.
type keyWorld struct {
	*sshWorld
	client string // the client's rexec home
	home   string // the client's HOME
	tmp    string
}

func newKeyWorld(t *testing.T) *keyWorld {
	t.Helper()
	needTool(t, "ssh-keygen", "ssh-agent", "ssh-add")
	w := &keyWorld{sshWorld: &sshWorld{t: t, home: t.TempDir(), bin: t.TempDir()}, client: t.TempDir(), home: t.TempDir(), tmp: t.TempDir()}
	w.d = startDaemon(t, w.sshWorld.home)
	known, err := os.ReadFile(filepath.Join(w.sshWorld.home, "known_hosts"))
	if err != nil {
		// the daemon's first run pins its host key for its own home's client
		r := rexec(t, w.sshWorld.home, nil, "trust", "-y", w.d.host())
		if r.code != 0 {
			t.Fatal(r.stderr)
		}
		known, _ = os.ReadFile(filepath.Join(w.sshWorld.home, "known_hosts"))
	}
	if err := os.WriteFile(filepath.Join(w.client, "known_hosts"), known, 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// keygen makes a key pair with ssh-keygen and returns the private key's
// path; authorize puts its .pub in the daemon's authorized_keys.
func (w *keyWorld) keygen(typ, pass, name string, authorize bool) string {
	w.t.Helper()
	path := filepath.Join(w.tmp, name)
	args := []string{"-q", "-t", typ, "-N", pass, "-f", path, "-C", name}
	if typ == "rsa" {
		args = append(args, "-b", "3072")
	}
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		w.t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	if authorize {
		pub, _ := os.ReadFile(path + ".pub")
		f, err := os.OpenFile(filepath.Join(w.sshWorld.home, "authorized_keys"), os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			w.t.Fatal(err)
		}
		f.Write(pub)
		f.Close()
	}
	return path
}

// askpass writes an SSH_ASKPASS program that prints pass.
func (w *keyWorld) askpass(pass string) string {
	w.t.Helper()
	path := filepath.Join(w.tmp, "askpass-"+strings.ReplaceAll(pass, " ", "_"))
	if err := os.WriteFile(path, []byte("#!/bin/sh\nprintf '%s\\n' '"+pass+"'\n"), 0o700); err != nil {
		w.t.Fatal(err)
	}
	return path
}

// agent starts an ssh-agent for the test and returns its socket; it is
// killed at cleanup.
func (w *keyWorld) agent() string {
	w.t.Helper()
	sock := filepath.Join(w.tmp, "agent.sock")
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	bufio.NewReader(out).ReadString('\n') // it prints its environment once listening
	return sock
}

// client runs a program as the client: no rexec identity, HOME empty, no
// terminal (its own session), with env added.
func (w *keyWorld) clientRun(env []string, name string, args ...string) result {
	w.t.Helper()
	cmd := exec.Command(name, args...)
	base := []string{"PATH=" + os.Getenv("PATH"), "REXEC_HOME=" + w.client, "HOME=" + w.home}
	cmd.Env = append(base, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			w.t.Fatal(err)
		}
	}
	return result{stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode()}
}

// TestSSHAgentKey: ssh-agent holds a passphrase-protected ed25519 key
// (added through SSH_ASKPASS); rexec run and rexec ssh use it with no
// rexec identity at all, and every time at the first connection (the
// daemon's penalties would refuse a source after three failures).
func TestSSHAgentKey(t *testing.T) {
	w := newKeyWorld(t)
	key := w.keygen("ed25519", "agent pass", "id_agent", true)
	sock := w.agent()
	r := w.clientRun([]string{"SSH_AUTH_SOCK=" + sock, "SSH_ASKPASS=" + w.askpass("agent pass"), "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0"},
		"ssh-add", key)
	if r.code != 0 {
		t.Fatalf("ssh-add: %s", r.stderr)
	}
	env := []string{"SSH_AUTH_SOCK=" + sock}
	for i := range 5 {
		r = w.clientRun(env, rexecBin, "ssh", "-p", w.d.Port(), "localhost", "echo", "agent", strconv.Itoa(i))
		if r.code != 0 || r.stdout != "agent "+strconv.Itoa(i)+"\n" {
			t.Fatalf("rexec ssh with the agent key, run %d: %d %q %q", i, r.code, r.stdout, r.stderr)
		}
	}
	r = w.clientRun(env, rexecBin, "run", w.d.host(), "--", "echo", "run too")
	if r.code != 0 || r.stdout != "run too\n" {
		t.Fatalf("rexec run with the agent key: %d %q %q", r.code, r.stdout, r.stderr)
	}
	// -i key.pub picks the agent's key; the private file need not exist.
	os.Rename(key, key+".moved")
	r = w.clientRun(env, rexecBin, "ssh", "-p", w.d.Port(), "-i", key+".pub", "localhost", "true")
	if r.code != 0 {
		t.Fatalf("-i key.pub with the agent: %d %q", r.code, r.stderr)
	}
	// The agent is never the server's: -A and SendEnv change nothing.
	r = w.clientRun(env, rexecBin, "ssh", "-A", "-o", "ForwardAgent=yes", "-o", "SendEnv=SSH_AUTH_SOCK", "-p", w.d.Port(),
		"localhost", "echo", "[$SSH_AUTH_SOCK]")
	if r.code != 0 || r.stdout != "[]\n" {
		t.Fatalf("agent forwarding: %d %q %q; want no SSH_AUTH_SOCK on the server", r.code, r.stdout, r.stderr)
	}
}

// TestSSHKeyFiles: ECDSA and RSA key files with -i; a passphrase key
// through SSH_ASKPASS; without an agent or a terminal it is 255 and one
// line; a wrong passphrase is a clear error.
func TestSSHKeyFiles(t *testing.T) {
	w := newKeyWorld(t)
	p := w.d.Port()
	ecdsaKey := w.keygen("ecdsa", "", "id_ecdsa", true)
	rsaKey := w.keygen("rsa", "", "id_rsa", true)
	encKey := w.keygen("ed25519", "file pass", "id_enc", true)
	stranger := w.keygen("ed25519", "", "id_stranger", false)
	tests := []struct {
		name   string
		env    []string
		args   []string
		code   int
		out    string
		stderr string
	}{
		{"ecdsa", nil, []string{"-i", ecdsaKey}, 0, "ok\n", ""},
		{"rsa", nil, []string{"-i", rsaKey}, 0, "ok\n", ""},
		{"passphrase through SSH_ASKPASS", []string{"SSH_ASKPASS=" + w.askpass("file pass"), "SSH_ASKPASS_REQUIRE=force"},
			[]string{"-i", encKey}, 0, "ok\n", ""},
		{"passphrase, no agent, no terminal", nil, []string{"-i", encKey}, 255, "", "needs a passphrase, and there is no terminal"},
		{"passphrase in batch mode", []string{"SSH_ASKPASS=" + w.askpass("file pass"), "SSH_ASKPASS_REQUIRE=force"},
			[]string{"-o", "BatchMode=yes", "-i", encKey}, 255, "", "BatchMode forbids asking"},
		{"wrong passphrase", []string{"SSH_ASKPASS=" + w.askpass("wrong"), "SSH_ASKPASS_REQUIRE=force"},
			[]string{"-i", encKey}, 255, "", "incorrect passphrase"},
		{"a key the server does not know", nil, []string{"-i", stranger}, 255, "", "not authorized"},
		{"unauthorized first, then an authorized one", nil, []string{"-i", stranger, "-i", ecdsaKey}, 0, "ok\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"ssh", "-p", p}, tc.args...), "localhost", "echo ok")
			r := w.clientRun(tc.env, rexecBin, args...)
			if r.code != tc.code || r.stdout != tc.out || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("%q = %d, %q, %q; want %d, %q, stderr with %q", tc.args, r.code, r.stdout, r.stderr, tc.code, tc.out, tc.stderr)
			}
			if tc.code == 255 && strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
				t.Errorf("more than one line: %q", r.stderr)
			}
		})
	}
}

// TestSSHSlowPassphrase: a passphrase typed after the server's login
// grace ran out costs a second connection, not a failure: the key is
// decrypted once and proven at once on the next connection.
func TestSSHSlowPassphrase(t *testing.T) {
	w := newKeyWorld(t)
	w.d.Stop(t)
	w.d = startDaemon(t, w.sshWorld.home, "--login-grace", "1s", "--penalty-exempt", "127.0.0.0/8")
	key := w.keygen("ecdsa", "slow pass", "id_slow", true)
	slow := filepath.Join(w.tmp, "slow-askpass")
	os.WriteFile(slow, []byte("#!/bin/sh\nsleep 3\necho 'slow pass'\n"), 0o700)
	r := w.clientRun([]string{"SSH_ASKPASS=" + slow, "SSH_ASKPASS_REQUIRE=force"}, rexecBin, "ssh", "-p", w.d.Port(), "-o", "StrictHostKeyChecking=accept-new", "-i", key, "localhost", "echo", "late")
	if r.code != 0 || r.stdout != "late\n" {
		t.Fatalf("a passphrase after the login grace = %d %q %q", r.code, r.stdout, r.stderr)
	}
}

// TestAuthorizeSSHKeys: rexec authorize takes an ssh user's ECDSA or RSA
// .pub, once, and that key then logs in.
func TestAuthorizeSSHKeys(t *testing.T) {
	w := newKeyWorld(t)
	for _, typ := range []string{"ecdsa", "rsa"} {
		key := w.keygen(typ, "", "id_auth_"+typ, false)
		for _, want := range []string{"authorized: SHA256:", "already authorized: SHA256:"} {
			r := rexec(t, w.sshWorld.home, nil, "authorize", key+".pub")
			if r.code != 0 || !strings.HasPrefix(r.stdout, want) {
				t.Fatalf("authorize %s = %d %q %q; want %q", typ, r.code, r.stdout, r.stderr, want)
			}
		}
		if r := w.clientRun(nil, rexecBin, "ssh", "-p", w.d.Port(), "-i", key, "localhost", "echo", typ); r.code != 0 || r.stdout != typ+"\n" {
			t.Fatalf("ssh with the authorized %s key = %d %q %q", typ, r.code, r.stdout, r.stderr)
		}
	}
}

// TestSSHPassphraseOnTerminal: on a terminal the passphrase is asked on
// it (not read from stdin, which carries the command's data), a wrong one
// is asked again, and the right one logs in.
func TestSSHPassphraseOnTerminal(t *testing.T) {
	w := newKeyWorld(t)
	key := w.keygen("ed25519", "typed pass", "id_typed", true)
	p := newTmuxPane(t, w.client, 120, 30)
	p.line("echo data | HOME=" + w.home + " SSH_AUTH_SOCK= rexec ssh -p " + w.d.Port() + " -i " + key +
		" localhost 'cat; echo RC-OK'")
	p.waitFor(regexp.MustCompile(`Enter passphrase for key '.*id_typed':`), "the passphrase prompt")
	p.line("wrong")
	p.waitFor(regexp.MustCompile(`Bad passphrase, try again`), "a second try")
	p.line("typed pass")
	p.waitFor(regexp.MustCompile(`(?m)^data\nRC-OK`), "the command's output after the passphrase")
	if strings.Contains(p.screen(), "typed pass") {
		t.Error("the passphrase was echoed")
	}
}
