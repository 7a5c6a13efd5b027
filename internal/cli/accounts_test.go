//go:build linux

package cli_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/account"
	"github.com/rexec-dev/rexec/internal/rexectest"
)

// The accounts must-holds (docs/SECURITY.md, "Accounts"): a root daemon,
// real accounts created for the test (useradd) and removed after, the
// real binaries.

// accountWorld is a root daemon and the accounts of one test.
type accountWorld struct {
	t     *testing.T
	home  string // the client's rexec home: its key is authorized for alice only
	dhome string // the root daemon's rexec home
	d     *daemon
	alice *rexectest.Account
	bob   *rexectest.Account
	group string // a supplementary group alice is in
}

// newAccountWorld starts a root daemon (with a variable in its own
// environment that no session may see) and creates alice, in a test
// group, and bob; the client's key is in alice's own authorized_keys.
func newAccountWorld(t *testing.T, flags ...string) *accountWorld {
	t.Helper()
	w := &accountWorld{t: t, home: t.TempDir(), dhome: t.TempDir()}
	w.group = rexectest.NewGroup(t)
	w.alice = rexectest.NewAccount(t, rexectest.AccountOptions{Groups: []string{w.group}})
	w.bob = rexectest.NewAccount(t, rexectest.AccountOptions{})
	// These tests fail logins from 127.0.0.1 on purpose: no penalties.
	flags = append(flags, "--penalty-exempt", "127.0.0.0/8")
	w.d = &daemon{rexectest.StartDaemon(t, rexecBin, rexectest.DaemonOptions{Home: w.dhome, Args: flags,
		Env: []string{"DAEMON_ONLY_SECRET=leaked"}})}
	rexec(t, w.home, nil, "keygen")
	if r := rexec(t, w.home, nil, "trust", "-y", w.d.host()); r.code != 0 {
		t.Fatalf("trust: %q", r.stderr)
	}
	w.authorize(w.alice)
	return w
}

// authorize puts the client's key in the account's own authorized_keys,
// owned by the account, private, as `rexec authorize` run by it would.
func (w *accountWorld) authorize(a *rexectest.Account) {
	w.t.Helper()
	pub, err := os.ReadFile(filepath.Join(w.home, "id_ed25519.pub"))
	if err != nil {
		w.t.Fatal(err)
	}
	dir := filepath.Join(a.Home, ".config", "rexec")
	for _, d := range []string{filepath.Join(a.Home, ".config"), dir} {
		os.Mkdir(d, 0o700)
		os.Chown(d, a.UID, a.GID)
	}
	file := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(file, pub, 0o600); err != nil {
		w.t.Fatal(err)
	}
	os.Chown(file, a.UID, a.GID)
}

// run is `rexec run` against the world's daemon.
func (w *accountWorld) run(args ...string) result {
	w.t.Helper()
	return rexec(w.t, w.home, nil, append([]string{"run"}, args...)...)
}

func (w *accountWorld) host(a *rexectest.Account) string { return a.Name + "@" + w.d.host() }

// TestAccountSession: a session as alice has her uid, gid and groups,
// never gid 0, her home, user, logname, shell and working directory, and
// nothing of the daemon's environment.
func TestAccountSession(t *testing.T) {
	auditLog := filepath.Join(t.TempDir(), "audit.log")
	w := newAccountWorld(t, "--audit-log", auditLog)
	r := w.run(w.host(w.alice), "--", "sh", "-c",
		`id -u; id -g; id -G; echo "$HOME|$USER|$LOGNAME|$SHELL"; pwd; echo "secret=$DAEMON_ONLY_SECRET"; env`)
	if r.code != 0 {
		t.Fatalf("run as alice: %d %q", r.code, r.stderr)
	}
	lines := strings.Split(r.stdout, "\n")
	gid := strconv.Itoa(w.alice.GID)
	if lines[0] != strconv.Itoa(w.alice.UID) || lines[1] != gid {
		t.Errorf("uid/gid = %q %q, want %d %d", lines[0], lines[1], w.alice.UID, w.alice.GID)
	}
	groups := strings.Fields(lines[2])
	if !hasGroup(t, groups, w.group) || slicesContains(groups, "0") {
		t.Errorf("groups %q: want her test group %s and never 0", groups, w.group)
	}
	if want := w.alice.Home + "|" + w.alice.Name + "|" + w.alice.Name + "|/bin/bash"; lines[3] != want {
		t.Errorf("HOME|USER|LOGNAME|SHELL = %q, want %q", lines[3], want)
	}
	if lines[4] != w.alice.Home {
		t.Errorf("pwd = %q, want %q", lines[4], w.alice.Home)
	}
	if lines[5] != "secret=" || strings.Contains(r.stdout, "leaked") {
		t.Errorf("the daemon's environment reached the session:\n%s", r.stdout)
	}
	for _, v := range []string{"REXEC_CLIENT=127.0.0.1 ", "MAIL=/var/mail/" + w.alice.Name, "PATH="} {
		if !strings.Contains(r.stdout, v) {
			t.Errorf("environment lacks %q:\n%s", v, r.stdout)
		}
	}
	if b, err := os.ReadFile(auditLog); err != nil || !strings.Contains(string(b), `"user":"`+w.alice.Name+`"`) {
		t.Errorf("the audit log does not name the account: %v", err)
	}
	if !strings.Contains(w.d.Logs(), `"user":"`+w.alice.Name+`"`) {
		t.Error("the daemon's log does not name the account")
	}
	// -l names the account as user@ does.
	if r := w.run("-l", w.alice.Name, w.d.host(), "--", "id", "-un"); r.code != 0 || r.stdout != w.alice.Name+"\n" {
		t.Errorf("-l %s: %d %q %q", w.alice.Name, r.code, r.stdout, r.stderr)
	}
}

func hasGroup(t *testing.T, gids []string, name string) bool {
	out, err := exec.Command("getent", "group", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), ":")
	return len(f) > 2 && slicesContains(gids, f[2])
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestAccountFilePermissions: as alice, bob's private file can be neither
// read by run nor downloaded; nothing can be uploaded into bob's home;
// alice's uploads are hers, with her umask applied.
func TestAccountFilePermissions(t *testing.T) {
	w := newAccountWorld(t)
	secret := filepath.Join(w.bob.Home, "secret")
	os.WriteFile(secret, []byte("bob's secret\n"), 0o600)
	os.Chown(secret, w.bob.UID, w.bob.GID)
	if r := w.run(w.host(w.alice), "--", "cat", secret); r.code == 0 || strings.Contains(r.stdout, "secret") {
		t.Errorf("alice read bob's file: %d %q", r.code, r.stdout)
	}
	stolen := filepath.Join(t.TempDir(), "stolen")
	if r := rexec(t, w.home, nil, "cp", "-P", w.d.Port(), w.alice.Name+"@localhost:"+secret, stolen); r.code == 0 {
		t.Errorf("alice downloaded bob's file: %d %q", r.code, r.stderr)
	}
	if _, err := os.Stat(stolen); err == nil {
		t.Error("the download left a file")
	}
	src := filepath.Join(t.TempDir(), "upload.txt")
	os.WriteFile(src, []byte("from alice\n"), 0o666)
	os.Chmod(src, 0o666)
	if r := rexec(t, w.home, nil, "cp", "-P", w.d.Port(), src, w.alice.Name+"@localhost:"+w.bob.Home+"/"); r.code == 0 {
		t.Errorf("alice uploaded into bob's home: %d %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(w.bob.Home, "upload.txt")); err == nil {
		t.Error("a file appeared in bob's home")
	}
	if r := rexec(t, w.home, nil, "cp", "-P", w.d.Port(), src, w.alice.Name+"@localhost:"); r.code != 0 {
		t.Fatalf("alice's upload into her home: %d %q", r.code, r.stderr)
	}
	fi, err := os.Stat(filepath.Join(w.alice.Home, "upload.txt"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := account.DB{}.Lookup(w.alice.Name)
	if err != nil {
		t.Fatal(err)
	}
	wantMode := os.FileMode(0o666 &^ account.DB{}.Umask(a))
	st := ownerOf(fi)
	if st.uid != w.alice.UID || st.gid != w.alice.GID || fi.Mode().Perm() != wantMode {
		t.Errorf("upload owned %d:%d mode %v, want %d:%d and %v (0666 under her umask)",
			st.uid, st.gid, fi.Mode().Perm(), w.alice.UID, w.alice.GID, wantMode)
	}
}

// TestAccountTerminal: rexec run -t and rexec shell as alice get a
// terminal she owns (group tty, mode 0620) and a login shell, recorded in
// utmp while it lasts.
func TestAccountTerminal(t *testing.T) {
	w := newAccountWorld(t)
	// The utmp record is written just after the process starts (its pid
	// names it), so the command waits for it, bounded.
	r := w.run("-t", w.host(w.alice), "--", "sh", "-c", `stat -c '%U %G %a' "$(tty)"; `+
		`for i in $(seq 50); do who | grep -q "^`+w.alice.Name+` " && break; sleep 0.1; done; who | grep -c "^`+w.alice.Name+` " || true`)
	if r.code != 0 || !strings.HasPrefix(r.stdout, w.alice.Name+" tty 620") {
		t.Errorf("-t as alice: %d %q %q; want a terminal owned by %s, group tty, 620", r.code, r.stdout, r.stderr, w.alice.Name)
	}
	if !strings.Contains(r.stdout, "\r\n1") {
		t.Errorf("who did not list the session: %q", r.stdout)
	}
	r = rexec(t, w.home, strings.NewReader("echo \"shell=$0\"\nexit 3\n"), "shell", w.host(w.alice))
	if r.code != 3 || !strings.Contains(r.stdout, "shell=-bash") {
		t.Errorf("rexec shell as alice: %d %q %q; want a login shell (-bash) and exit 3", r.code, r.stdout, r.stderr)
	}
	// On a real terminal: rexec shell gets a terminal she owns.
	p := newTmuxPane(t, w.home, 120, 30)
	p.line("rexec shell " + w.host(w.alice))
	p.line(`echo "OWNER=$(stat -c '%U:%G:%a' "$(tty)") SHELL0=$0"`)
	want := regexp.MustCompile(`OWNER=` + w.alice.Name + `:tty:620 SHELL0=-bash`)
	p.waitFor(want, "a terminal owned by alice and a login shell")
	p.line("exit")
}

// TestAccountKeys: a key in alice's file opens neither bob's account nor
// root's; a key in the administrator's file for root opens root; an
// unknown account and a refused key give the same answer; a nologin or
// locked account runs nothing; alice's file, or her rexec directory, made
// group-writable authorizes nothing, and the daemon says why.
func TestAccountKeys(t *testing.T) {
	admin := filepath.Join(t.TempDir(), "admin")
	os.Mkdir(admin, 0o755)
	conf := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf("[accounts]\nauthorized_keys_files = [\"%%h/.config/rexec/authorized_keys\", \"%s/%%u\"]\n", admin)), 0o600)
	w := newAccountWorld(t, "--config", conf)
	sentdir, err := os.MkdirTemp("", "rexec-sentinel-") // below /tmp: every account reaches it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sentdir) })
	os.Chmod(sentdir, 0o1777) // every account may leave the sentinel
	sentinel := filepath.Join(sentdir, "ran")
	touch := "touch " + sentinel

	other := t.TempDir()
	rexec(t, other, nil, "keygen")
	otherPub, _ := os.ReadFile(filepath.Join(other, "id_ed25519.pub"))
	os.WriteFile(filepath.Join(admin, "root"), otherPub, 0o600)
	refused := regexp.MustCompile(`^rexec: localhost:\d+: remote error \(unauthorized\): key SHA256:\S+ is not authorized for "[^"]+" on this server\n$`)
	tests := []struct {
		name string
		home string
		user string
		ok   bool
	}{
		{"alice's key for alice", w.home, w.alice.Name, true},
		{"alice's key for bob", w.home, w.bob.Name, false},
		{"alice's key for root", w.home, "root", false},
		{"an unknown account", w.home, "rxnosuchuser", false},
		{"the admin's key for root", other, "root", true},
		{"the admin's key for alice", other, w.alice.Name, false},
	}
	for _, tt := range tests {
		r := rexec(t, tt.home, nil, "run", "--accept-new", tt.user+"@"+w.d.host(), touch)
		if tt.ok != (r.code == 0) {
			t.Errorf("%s: %d %q", tt.name, r.code, r.stderr)
		}
		if !tt.ok && !refused.MatchString(r.stderr) {
			t.Errorf("%s: stderr %q is not the one refusal every account gets", tt.name, r.stderr)
		}
		if _, err := os.Stat(sentinel); (err == nil) != tt.ok {
			t.Errorf("%s: the command ran = %v", tt.name, err == nil)
		}
		os.Remove(sentinel)
	}

	nolog := rexectest.NewAccount(t, rexectest.AccountOptions{Shell: "/usr/sbin/nologin"})
	locked := rexectest.NewAccount(t, rexectest.AccountOptions{Locked: true})
	for _, a := range []*rexectest.Account{nolog, locked} {
		w.authorize(a)
		if r := w.run(w.host(a), touch); r.code != 255 || !refused.MatchString(r.stderr) {
			t.Errorf("%s: %d %q; want the refusal", a.Name, r.code, r.stderr)
		}
		if _, err := os.Stat(sentinel); err == nil {
			t.Errorf("%s ran a command", a.Name)
		}
	}
	if !w.d.WaitLog("its shell refuses logins", 10*time.Second) || !w.d.WaitLog("account: locked", 10*time.Second) {
		t.Errorf("the log does not say why nologin and locked accounts were refused")
	}

	file := filepath.Join(w.alice.Home, ".config", "rexec", "authorized_keys")
	for _, p := range []string{file, filepath.Dir(file)} {
		fi, _ := os.Stat(p)
		os.Chmod(p, fi.Mode().Perm()|0o020)
		if r := w.run(w.host(w.alice), touch); r.code != 255 {
			t.Errorf("with %s group-writable: %d %q", p, r.code, r.stderr)
		}
		os.Chmod(p, fi.Mode().Perm())
	}
	if !w.d.WaitLog("writable by group or others", 10*time.Second) {
		t.Errorf("the log does not say why alice's file authorized nothing:\n%s", w.d.Logs())
	}
	if r := w.run(w.host(w.alice), "true"); r.code != 0 {
		t.Errorf("after the fix: %d %q", r.code, r.stderr)
	}
}

// TestAccountSessionsBehave: timeouts, signal forwarding, whole-tree kill,
// no orphans and 100 concurrent sessions hold for sessions as alice too.
// A SIGKILLed client's session waits out the (short) resume window, then
// its tree is gone.
func TestAccountSessionsBehave(t *testing.T) {
	w := newAccountWorld(t, "--resume-window", "500ms")
	if r := w.run("--timeout", "500ms", w.host(w.alice), "sleep 30 & sleep 30 & wait"); r.code != 124 {
		t.Errorf("--timeout as alice: %d %q", r.code, r.stderr)
	}
	checkNoProcs(t, w.alice.Name)

	cmd := exec.Command(rexecBin, "run", w.host(w.alice), `trap 'echo got INT; exit 7' INT; echo ready; sleep 30 & wait`)
	cmd.Env = append(os.Environ(), "REXEC_HOME="+w.home)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	if !strings.Contains(string(buf[:n]), "ready") {
		t.Fatalf("no ready line: %q", buf[:n])
	}
	cmd.Process.Signal(os.Interrupt)
	rest, _ := readAll(out)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 || !strings.Contains(rest, "got INT") {
		t.Errorf("Ctrl-C as alice: %v %q; want the remote trap and exit 7", err, rest)
	}

	killed := exec.Command(rexecBin, "run", w.host(w.alice), "setsid sleep 31 & sleep 32 & echo started; wait")
	killed.Env = append(os.Environ(), "REXEC_HOME="+w.home)
	kout, _ := killed.StdoutPipe()
	killed.Start()
	if n, _ = kout.Read(buf); !strings.Contains(string(buf[:n]), "started") {
		t.Errorf("no started line: %q", buf[:n])
	}
	killed.Process.Kill()
	killed.Wait()
	checkNoProcs(t, w.alice.Name)

	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := exec.Command(rexecBin, "run", w.host(w.alice), "--", "sh", "-c", "id -un; sleep 1")
			c.Env = append(os.Environ(), "REXEC_HOME="+w.home)
			o, err := c.Output()
			if err != nil || string(o) != w.alice.Name+"\n" {
				mu.Lock()
				failed++
				mu.Unlock()
				t.Logf("session %d: %v %q", i, err, o)
			}
		}()
	}
	wg.Wait()
	if failed > 0 {
		t.Errorf("%d of 100 concurrent sessions as alice failed", failed)
	}
	checkNoProcs(t, w.alice.Name)
}

// checkNoProcs waits (bounded) until the account runs no process.
func checkNoProcs(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := exec.Command("pgrep", "-u", name).Output()
		if len(strings.TrimSpace(string(out))) == 0 {
			return
		}
		if time.Now().After(deadline) {
			ps, _ := exec.Command("ps", "-u", name, "-o", "pid,ppid,args").Output()
			t.Fatalf("processes of %s left behind:\n%s", name, ps)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNonRootDaemonServesItsOwnAccount: a daemon running as alice serves
// alice, also to a client that named no account, and refuses bob clearly.
func TestNonRootDaemonServesItsOwnAccount(t *testing.T) {
	alice := rexectest.NewAccount(t, rexectest.AccountOptions{})
	bob := rexectest.NewAccount(t, rexectest.AccountOptions{})
	dhome := filepath.Join(alice.Home, ".config", "rexec")
	os.MkdirAll(dhome, 0o700)
	exec.Command("chown", "-R", alice.Name+":"+alice.Name, filepath.Join(alice.Home, ".config")).Run()
	bin := filepath.Join(alice.Home, "rexec")
	exec.Command("install", "-m", "0755", rexecBin, bin).Run()
	d := &daemon{rexectest.StartDaemon(t, bin, rexectest.DaemonOptions{Home: dhome,
		Prefix: []string{"setpriv", "--reuid=" + alice.Name, "--regid=" + alice.Name, "--init-groups", "--"},
		Env:    []string{"HOME=" + alice.Home}})}
	client := t.TempDir()
	for _, f := range []string{"id_ed25519", "id_ed25519.pub"} {
		b, err := os.ReadFile(filepath.Join(dhome, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(client, f), b, 0o600)
	}
	if r := rexec(t, client, nil, "run", "--accept-new", d.host(), "id -un"); r.code != 0 || r.stdout != alice.Name+"\n" {
		t.Errorf("no account named: %d %q %q; want alice's session", r.code, r.stdout, r.stderr)
	}
	r := rexec(t, client, nil, "run", "--accept-new", bob.Name+"@"+d.host(), "id -un")
	if r.code != 255 || !strings.Contains(r.stderr, "serves only that account") || !strings.Contains(r.stderr, bob.Name) {
		t.Errorf("bob@ on alice's daemon: %d %q; want a clear refusal", r.code, r.stderr)
	}
}

// TestBadAccountNames: names no system has are refused before anything
// is sent, with one clear line, and nothing runs.
func TestBadAccountNames(t *testing.T) {
	home := t.TempDir()
	d := startDaemon(t, home)
	sentinel := filepath.Join(t.TempDir(), "ran")
	for _, name := range []string{"a/b", "..", "a b", strings.Repeat("x", 300), "12345", ".x"} {
		for _, args := range [][]string{{"run", name + "@" + d.host(), "touch " + sentinel}, {"run", "-l", name, d.host(), "touch " + sentinel}} {
			r := rexec(t, home, nil, args...)
			if r.code != 255 || !strings.Contains(r.stderr, "invalid user") || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("rexec %q: %d %q; want 255 and one line about the invalid user", args[:3], r.code, r.stderr)
			}
		}
	}
	if _, err := os.Stat(sentinel); err == nil {
		t.Error("a command ran")
	}
}

// owner is a file's owner and group.
type owner struct{ uid, gid int }

func ownerOf(fi os.FileInfo) owner {
	st := fi.Sys().(*syscall.Stat_t)
	return owner{int(st.Uid), int(st.Gid)}
}

// readAll reads r to its end (bounded by the test's own timeouts).
func readAll(r io.Reader) (string, error) {
	b, err := io.ReadAll(r)
	return string(b), err
}

// TestHostAliases: a host alias of client.toml (docs/CLI.md §11.2) names
// the host, port and account for run, fan-out, cp and trust, as a Host
// block of ~/.ssh/config does for ssh, scp and rsync; the command line
// (-l, user@, -p, host:port) wins over it.
func TestHostAliases(t *testing.T) {
	w := newAccountWorld(t)
	w.authorize(w.bob)
	toml := fmt.Sprintf("[hosts.box]\nhostname = \"localhost\"\nport = %s\nuser = %q\n", w.d.Port(), w.alice.Name)
	if err := os.WriteFile(filepath.Join(w.home, "client.toml"), []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
	}{
		{"the alias's host, port and account", []string{"box", "--", "id", "-un"}, 0, w.alice.Name + "\n"},
		{"-l over the alias's account", []string{"-l", w.bob.Name, "box", "--", "id", "-un"}, 0, w.bob.Name + "\n"},
		{"user@ over the alias's account", []string{w.bob.Name + "@box", "--", "id", "-un"}, 0, w.bob.Name + "\n"},
		{"-p over the alias's port", []string{"-p", "1", "box", "--", "true"}, 255, ""},
		{"host:port over the alias's port", []string{"box:1", "--", "true"}, 255, ""},
		{"fan-out", []string{"--output", "group", "box", w.host(w.bob), "--", "id", "-un"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := w.run(tt.args...)
			if r.code != tt.code || (tt.stdout != "" && r.stdout != tt.stdout) {
				t.Errorf("run %q = %d %q %q; want %d %q", tt.args, r.code, r.stdout, r.stderr, tt.code, tt.stdout)
			}
			if tt.name == "fan-out" && (!strings.Contains(r.stdout, "box\n") || !strings.Contains(r.stdout, "\n"+w.alice.Name+"\n") || !strings.Contains(r.stdout, "\n"+w.bob.Name+"\n")) {
				t.Errorf("fan-out to the alias and bob: %q; want box's group with %s and %s's", r.stdout, w.alice.Name, w.bob.Name)
			}
		})
	}
	src := filepath.Join(t.TempDir(), "aliased.txt")
	os.WriteFile(src, []byte("via the alias\n"), 0o644)
	if r := rexec(t, w.home, nil, "cp", src, "box:"); r.code != 0 {
		t.Fatalf("cp to the alias: %d %q", r.code, r.stderr)
	}
	fi, err := os.Stat(filepath.Join(w.alice.Home, "aliased.txt"))
	if err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(w.alice.UID) {
		t.Errorf("cp to box: landed %v, %v; want in %s's home, hers", fi, err, w.alice.Name)
	}
	if r := rexec(t, w.home, nil, "trust", "-y", "box"); r.code != 0 || !strings.Contains(r.stdout, "already pinned") {
		t.Errorf("trust box = %d %q %q; want the key pinned for localhost:%s found", r.code, r.stdout, r.stderr, w.d.Port())
	}
	os.WriteFile(filepath.Join(w.home, "client.toml"), []byte("[hosts.box]\nhostnam = \"x\"\n"), 0o600)
	if r := w.run("box", "--", "true"); r.code != 255 || !strings.Contains(r.stderr, "hosts.box.hostnam") {
		t.Errorf("a client.toml typo = %d %q; want 255 naming the key", r.code, r.stderr)
	}
}
