package cli_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/rexectest"
)

// sshWorld is a root daemon on loopback and a client home whose key it
// authorizes (its first-run identity), with a directory holding the
// binary under the names ssh and rexec-ssh, for the tools that take only
// a program path.
type sshWorld struct {
	t    *testing.T
	home string
	d    *daemon
	bin  string
}

func newSSHWorld(t *testing.T) *sshWorld {
	t.Helper()
	w := &sshWorld{t: t, home: t.TempDir(), bin: t.TempDir()}
	w.d = startDaemon(t, w.home, "--penalty-exempt", "127.0.0.0/8")
	for _, name := range []string{"ssh", "rexec-ssh"} {
		if err := os.Symlink(rexecBin, filepath.Join(w.bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// needTool skips (fails in CI) when a program the test drives is missing.
func needTool(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			rexectest.SkipOrFail(t, "%s is not installed (.ci/run installs it)", n)
		}
	}
}

// sshCmd is `rexec ssh -p PORT` as one shell word list, for -e, -S and
// GIT_SSH_COMMAND.
func (w *sshWorld) sshCmd() string { return rexecBin + " ssh -p " + w.d.Port() }

// run runs a program with the world's home and PATH (the ssh link first),
// bounded by two minutes.
func (w *sshWorld) run(dir string, env []string, in string, name string, args ...string) result {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "REXEC_HOME="+w.home, "PATH="+w.bin+":"+os.Getenv("PATH")), env...)
	cmd.Stdin = strings.NewReader(in)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		w.t.Fatalf("%s %q did not finish in two minutes; stderr %q", name, args, errb.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		w.t.Fatalf("%s %q: %v", name, args, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode()}
}

// ssh runs `rexec ssh ARGS` in the world.
func (w *sshWorld) ssh(args ...string) result {
	w.t.Helper()
	return w.run("", nil, "", rexecBin, append([]string{"ssh"}, args...)...)
}

// TestSSHCommandLine: the issue's own lines. A command's words are joined
// and run by the shell, as ssh does; the status is the remote one.
func TestSSHCommandLine(t *testing.T) {
	w := newSSHWorld(t)
	p := w.d.Port()
	tests := []struct {
		name string
		prog string
		args []string
		out  string
		code int
	}{
		{"exit 4", rexecBin, []string{"ssh", "-p", p, "localhost", "exit", "4"}, "", 4},
		{"joined by the shell", rexecBin, []string{"ssh", "-p", p, "-l", "root", "-o", "ConnectTimeout=5", "-o", "BatchMode=yes",
			"-T", "-x", "localhost", "echo", "a  b", "$((1+2))"}, "a b 3\n", 0},
		{"as rexec-ssh", filepath.Join(w.bin, "rexec-ssh"), []string{"-p", p, "localhost", "exit 3"}, "", 3},
		{"as ssh, options after the host", filepath.Join(w.bin, "ssh"), []string{"localhost", "-p", p, "-q", "echo", "ok"}, "ok\n", 0},
		{"user@ and ssh:// port", rexecBin, []string{"ssh", "ssh://root@localhost:" + p, "printf", "%s", "$USER"}, "root", 0},
		{"--home before ssh", rexecBin, []string{"--home", w.home, "ssh", "-p", p, "localhost", "echo", "home"}, "home\n", 0},
		{"-n: empty stdin", rexecBin, []string{"ssh", "-n", "-p", p, "localhost", "wc", "-c"}, "0\n", 0},
		{"a signal is 255, as ssh exits", rexecBin, []string{"ssh", "-p", p, "localhost", "kill", "-9", "$$"}, "", 255},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := w.run("", nil, "some input", tc.prog, tc.args...)
			if r.code != tc.code || r.stdout != tc.out {
				t.Errorf("%q = %d, %q (stderr %q); want %d, %q", tc.args, r.code, r.stdout, r.stderr, tc.code, tc.out)
			}
		})
	}
}

// TestSSHBadInput: unknown options and malformed -o get ssh's wording and
// 255, and nothing runs.
func TestSSHBadInput(t *testing.T) {
	w := newSSHWorld(t)
	sentinel := filepath.Join(t.TempDir(), "ran")
	cmd := "touch " + sentinel
	p := w.d.Port()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-Z", "-p", p, "localhost", cmd}, "rexec ssh: unknown option -- Z"},
		{[]string{"-p", p, "-o", "NoSuchOption=yes", "localhost", cmd}, "Bad configuration option: nosuchoption"},
		{[]string{"-p", p, "-o", "ConnectTimeout", "localhost", cmd}, "missing argument"},
		{[]string{"-p", p, "-o", "ConnectTimeout=soon", "localhost", cmd}, "invalid time value"},
		{[]string{"-p", p, "-o", "BatchMode=perhaps", "localhost", cmd}, "unsupported option"},
		{[]string{"-p", "99999", "localhost", cmd}, "Bad port"},
		{[]string{"-p", p, "-o", "ProxyCommand=nc %h %p", "localhost", cmd}, "ProxyCommand is not supported"},
		{[]string{"-p", p, "-J", "jump", "localhost", cmd}, "jump hosts are not supported"},
		{[]string{"-p", p, "-O", "check", "localhost"}, "no ControlPath"},
		{[]string{"-p", p, "-i", "/nonexistent/key", "localhost", cmd}, "/nonexistent/key"},
		{[]string{"-p", p}, "no destination given"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := w.ssh(tc.args...)
			first, _, _ := strings.Cut(r.stderr, "\n")
			if r.code != 255 || !strings.Contains(first, tc.want) {
				t.Errorf("ssh %q = %d, stderr %q; want 255 and %q on the first line", tc.args, r.code, r.stderr, tc.want)
			}
			if _, err := os.Stat(sentinel); err == nil {
				t.Fatalf("ssh %q ran the command", tc.args)
			}
		})
	}
}

// TestSSHPrintConfig: -G prints the resolved configuration and exits 0,
// as git's probe for an OpenSSH client needs; the port is rexec's.
func TestSSHPrintConfig(t *testing.T) {
	w := newSSHWorld(t)
	r := w.ssh("-G", "u@example.org")
	if r.code != 0 || !strings.Contains(r.stdout, "user u\n") || !strings.Contains(r.stdout, "port 7022\n") ||
		!strings.Contains(r.stdout, "hostname example.org\n") {
		t.Fatalf("-G = %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	if r := w.ssh("-G", "-p", "7100", "-oUser=x", "h"); !strings.Contains(r.stdout, "port 7100\n") || !strings.Contains(r.stdout, "user x\n") {
		t.Fatalf("-G -p 7100 = %q", r.stdout)
	}
}

// tricky are file names rsync must carry through the remote shell.
var tricky = []string{"with space.txt", "q'uote\"s", "$dollar $(touch pwned)", "new\nline", "-dash"}

// TestSSHRsync: rsync -e 'rexec ssh -p P' with names that need the remote
// shell's quoting, into a destination with a space, with user@ (rsync
// adds -l), both ways; a missing remote file is rsync's 23.
func TestSSHRsync(t *testing.T) {
	needTool(t, "rsync")
	w := newSSHWorld(t)
	base := t.TempDir()
	src := filepath.Join(base, "src")
	os.Mkdir(src, 0o755)
	for i, n := range tricky {
		if err := os.WriteFile(filepath.Join(src, n), []byte(strings.Repeat("x", i+1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(base, "dst dir") + "/"
	r := w.run(base, nil, "", "rsync", "-a", "-e", w.sshCmd(), "src/", "root@localhost:"+dst)
	if r.code != 0 {
		t.Fatalf("rsync upload = %d: %s", r.code, r.stderr)
	}
	for i, n := range tricky {
		b, err := os.ReadFile(filepath.Join(dst, n))
		if err != nil || len(b) != i+1 {
			t.Errorf("upload of %q: %v, %q", n, err, b)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "pwned")); err == nil {
		t.Error("a file name was run by the remote shell")
	}
	down := filepath.Join(base, "down") + "/"
	r = w.run(base, nil, "", "rsync", "-a", "-e", w.sshCmd(), "localhost:"+dst+"with space.txt", "localhost:"+dst+"$dollar $(touch pwned)", down)
	if r.code != 0 {
		t.Fatalf("rsync download = %d: %s", r.code, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(down, "with space.txt")); err != nil || string(b) != "x" {
		t.Errorf("download of a name with a space: %v %q", err, b)
	}
	r = w.run(base, nil, "", "rsync", "-a", "-e", w.sshCmd(), "localhost:"+filepath.Join(base, "missing"), down)
	if r.code != 23 {
		t.Errorf("rsync of a missing remote file = %d, want 23: %s", r.code, r.stderr)
	}
}

// TestSSHGit: clone, fetch and push with GIT_SSH_COMMAND='rexec ssh' over
// ssh://user@h:PORT/path and h:path; git's protocol v2 is used, which
// needs GIT_PROTOCOL to reach the server (SendEnv and the accept list).
func TestSSHGit(t *testing.T) {
	needTool(t, "git")
	w := newSSHWorld(t)
	base := t.TempDir()
	gitEnv := []string{"GIT_SSH_COMMAND=" + rexecBin + " ssh", "GIT_CONFIG_NOSYSTEM=1", "HOME=" + base,
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t"}
	git := func(dir string, env []string, args ...string) result {
		t.Helper()
		r := w.run(dir, append(append([]string{}, gitEnv...), env...), "", "git", args...)
		if r.code != 0 {
			t.Fatalf("git %q = %d: %s", args, r.code, r.stderr)
		}
		return r
	}
	srv := filepath.Join(base, "srv.git")
	git(base, nil, "init", "-q", "--bare", srv)
	git(base, nil, "init", "-q", "work")
	work := filepath.Join(base, "work")
	os.WriteFile(filepath.Join(work, "f"), []byte("one"), 0o644)
	git(work, nil, "add", "f")
	git(work, nil, "commit", "-qm", "one")
	url := "ssh://root@localhost:" + w.d.Port() + srv
	git(work, nil, "push", "-q", url, "HEAD:refs/heads/main")
	r := git(base, []string{"GIT_TRACE_PACKET=1"}, "clone", "-q", "-b", "main", url, "c1")
	if !strings.Contains(r.stderr, "< version 2") {
		t.Errorf("clone did not use protocol v2: %s", r.stderr)
	}
	os.WriteFile(filepath.Join(work, "f"), []byte("two"), 0o644)
	git(work, nil, "commit", "-qam", "two")
	git(work, nil, "push", "-q", url, "HEAD:refs/heads/main")
	git(filepath.Join(base, "c1"), nil, "fetch", "-q")
	r = git(filepath.Join(base, "c1"), nil, "log", "--format=%s", "origin/main")
	if r.stdout != "two\none\n" {
		t.Errorf("fetch: log %q", r.stdout)
	}
	scpLike := []string{"GIT_SSH_COMMAND=" + w.sshCmd()}
	git(base, scpLike, "clone", "-q", "-b", "main", "localhost:"+srv, "c2")
	if b, _ := os.ReadFile(filepath.Join(base, "c2", "f")); string(b) != "two" {
		t.Errorf("h:path clone has f = %q", b)
	}
	// What git sends, the variable reaches the command.
	r = w.run("", []string{"GIT_PROTOCOL=version=2"}, "", rexecBin, "ssh", "-p", w.d.Port(), "-o", "SendEnv=GIT_PROTOCOL", "localhost", "echo", "$GIT_PROTOCOL")
	if r.stdout != "version=2\n" {
		t.Errorf("GIT_PROTOCOL on the server = %q (%s)", r.stdout, r.stderr)
	}
}

// TestSSHSFTP: OpenSSH's own sftp -S and scp -S against the sftp
// subsystem: put, get, ls, mkdir, rename, rm, -r.
func TestSSHSFTP(t *testing.T) {
	needTool(t, "sftp", "scp")
	w := newSSHWorld(t)
	base := t.TempDir()
	up := filepath.Join(base, "up")
	os.MkdirAll(filepath.Join(up, "sub"), 0o755)
	os.WriteFile(filepath.Join(up, "a.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(up, "sub", "b"), []byte("deep"), 0o644)
	rem := filepath.Join(base, "remote")
	batch := strings.Join([]string{
		"mkdir " + rem,
		"put " + filepath.Join(up, "a.txt") + " " + rem + "/a.txt",
		"ls " + rem,
		"rename " + rem + "/a.txt " + rem + "/renamed.txt",
		"get " + rem + "/renamed.txt " + filepath.Join(base, "got.txt"),
		"put -r " + up + " " + rem + "/tree",
		"get -r " + rem + "/tree " + filepath.Join(base, "gottree"),
		"rm " + rem + "/renamed.txt",
	}, "\n") + "\n"
	os.WriteFile(filepath.Join(base, "batch"), []byte(batch), 0o644)
	r := w.run(base, nil, "", "sftp", "-S", "rexec-ssh", "-P", w.d.Port(), "-b", filepath.Join(base, "batch"), "localhost")
	if r.code != 0 {
		t.Fatalf("sftp -b = %d: %s %s", r.code, r.stdout, r.stderr)
	}
	for path, want := range map[string]string{
		filepath.Join(base, "got.txt"): "hello", filepath.Join(rem, "tree", "sub", "b"): "deep",
		filepath.Join(base, "gottree", "a.txt"): "hello",
	} {
		if b, err := os.ReadFile(path); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", path, b, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(rem, "renamed.txt")); err == nil {
		t.Error("rm left the file")
	}
	if !strings.Contains(r.stdout, rem+"/a.txt") {
		t.Errorf("ls printed %q", r.stdout)
	}
	dst := filepath.Join(base, "scp dst.txt")
	r = w.run(base, nil, "", "scp", "-S", "rexec-ssh", "-P", w.d.Port(), filepath.Join(up, "a.txt"), "localhost:"+dst)
	if b, err := os.ReadFile(dst); r.code != 0 || err != nil || string(b) != "hello" {
		t.Errorf("scp -S = %d (%s), file %q %v", r.code, r.stderr, b, err)
	}
}

// TestSSHFanoutTools: pdsh -R ssh with ssh on PATH being the link, and
// GNU parallel's --ssh.
func TestSSHFanoutTools(t *testing.T) {
	needTool(t, "pdsh", "parallel")
	w := newSSHWorld(t)
	r := w.run("", []string{"PDSH_SSH_ARGS_APPEND=-p " + w.d.Port()}, "", "pdsh", "-R", "ssh", "-w", "localhost", "echo pd $((2+3))")
	if r.code != 0 || r.stdout != "localhost: pd 5\n" {
		t.Errorf("pdsh = %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	r = w.run("", []string{"HOME=" + t.TempDir()}, "", "parallel", "--ssh", w.sshCmd(), "-S", "localhost", "--nonall", "echo par $((1+1))")
	if r.code != 0 || r.stdout != "par 2\n" {
		t.Errorf("parallel --ssh = %d, %q, %q", r.code, r.stdout, r.stderr)
	}
}

// TestSSHAnsible: Debian's ansible-core, an ad-hoc command and a copy
// against a host whose ansible_ssh_executable is the rexec-ssh link.
func TestSSHAnsible(t *testing.T) {
	needTool(t, "ansible")
	w := newSSHWorld(t)
	base := t.TempDir()
	inv := "[t]\nlocalhost ansible_connection=ssh ansible_port=" + w.d.Port() + " ansible_user=root " +
		"ansible_ssh_executable=" + filepath.Join(w.bin, "rexec-ssh") + " ansible_python_interpreter=/usr/bin/python3\n"
	os.WriteFile(filepath.Join(base, "inv"), []byte(inv), 0o644)
	os.WriteFile(filepath.Join(base, "src.txt"), []byte("copied by ansible\n"), 0o644)
	env := []string{"HOME=" + base, "ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_LOCAL_TEMP=" + filepath.Join(base, "tmp")}
	r := w.run(base, env, "", "ansible", "-i", "inv", "t", "-m", "command", "-a", "echo via ansible")
	if r.code != 0 || !strings.Contains(r.stdout, "via ansible") {
		t.Fatalf("ansible command = %d: %s %s", r.code, r.stdout, r.stderr)
	}
	dst := filepath.Join(base, "dst.txt")
	r = w.run(base, env, "", "ansible", "-i", "inv", "t", "-m", "copy", "-a", "src="+filepath.Join(base, "src.txt")+" dest="+dst)
	if b, err := os.ReadFile(dst); r.code != 0 || err != nil || string(b) != "copied by ansible\n" {
		t.Fatalf("ansible copy = %d (%s %s), file %q %v", r.code, r.stdout, r.stderr, b, err)
	}
}

// TestSSHRestic: restic's sftp backend through -o sftp.command.
func TestSSHRestic(t *testing.T) {
	needTool(t, "restic")
	w := newSSHWorld(t)
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	os.WriteFile(filepath.Join(base, "data"), []byte("backed up"), 0o644)
	opt := "sftp.command=" + w.sshCmd() + " localhost -s sftp"
	env := []string{"RESTIC_PASSWORD=pw", "RESTIC_CACHE_DIR=" + filepath.Join(base, "cache")}
	for _, args := range [][]string{
		{"-r", "sftp:localhost:" + repo, "-o", opt, "init"},
		{"-r", "sftp:localhost:" + repo, "-o", opt, "backup", filepath.Join(base, "data")},
		{"-r", "sftp:localhost:" + repo, "-o", opt, "restore", "latest", "--target", filepath.Join(base, "restored")},
	} {
		if r := w.run(base, env, "", "restic", args...); r.code != 0 {
			t.Fatalf("restic %q = %d: %s", args, r.code, r.stderr)
		}
	}
	if b, err := os.ReadFile(filepath.Join(base, "restored", base, "data")); err != nil || string(b) != "backed up" {
		t.Fatalf("restored %q, %v", b, err)
	}
}

// TestSSHHostAliases: client.toml names hosts (hostname, user, port,
// identity, connect_timeout); for other hosts HostName, User and
// IdentityFile come from ~/.ssh/config, never its Port.
func TestSSHHostAliases(t *testing.T) {
	w := newSSHWorld(t)
	home := t.TempDir()
	os.Mkdir(filepath.Join(home, ".ssh"), 0o700)
	sshConfig := "Host viassh\n  HostName localhost\n  User root\n  Port 22\n  IdentityFile ~/.ssh/nonexistent_key\n"
	os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(sshConfig), 0o600)
	toml := "[hosts.web]\nhostname = \"localhost\"\nuser = \"root\"\nport = " + w.d.Port() + "\nconnect_timeout = \"5s\"\n" +
		"identity = \"" + filepath.Join(w.home, "id_ed25519") + "\"\n"
	os.WriteFile(filepath.Join(w.home, "client.toml"), []byte(toml), 0o600)
	env := []string{"HOME=" + home}
	r := w.run("", env, "", rexecBin, "ssh", "web", "echo", "aliased")
	if r.code != 0 || r.stdout != "aliased\n" {
		t.Fatalf("ssh web = %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = w.run("", env, "", rexecBin, "ssh", "-G", "web")
	for _, want := range []string{"hostname localhost\n", "user root\n", "port " + w.d.Port() + "\n", "connecttimeout 5\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("-G web = %q; want %q", r.stdout, want)
		}
	}
	r = w.run("", env, "", rexecBin, "ssh", "-G", "viassh")
	if !strings.Contains(r.stdout, "hostname localhost\n") || !strings.Contains(r.stdout, "port 7022\n") ||
		!strings.Contains(r.stdout, "identityfile "+home+"/.ssh/nonexistent_key\n") {
		t.Errorf("-G viassh = %q; want ~/.ssh/config's HostName and IdentityFile, rexec's port", r.stdout)
	}
	// The ssh config's identity does not exist: rexec ssh warns and has no key.
	r = w.run("", env, "", rexecBin, "ssh", "-p", w.d.Port(), "-i", filepath.Join(w.home, "id_ed25519"), "viassh", "echo", "$USER")
	if r.code != 0 || r.stdout != "root\n" {
		t.Errorf("ssh viassh = %d %q %q", r.code, r.stdout, r.stderr)
	}
	os.WriteFile(filepath.Join(w.home, "client.toml"), []byte("[hosts.web]\nhostnam = \"x\"\n"), 0o600)
	r = w.run("", env, "", rexecBin, "ssh", "web", "true")
	if r.code != 255 || !strings.Contains(r.stderr, "unknown keys: hosts.web.hostnam") {
		t.Errorf("a client.toml typo = %d %q; want 255 naming the key", r.code, r.stderr)
	}
}

// TestSSHFS: sshfs mounts a remote directory through rexec ssh's sftp
// subsystem (-o ssh_command), and reads and writes go through it.
func TestSSHFS(t *testing.T) {
	needTool(t, "sshfs", "fusermount")
	if _, err := os.Stat("/dev/fuse"); err != nil {
		rexectest.SkipOrFail(t, "no /dev/fuse: %v", err)
	}
	w := newSSHWorld(t)
	remote, mnt := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(remote, "there.txt"), []byte("remote file"), 0o644)
	r := w.run("", nil, "", "sshfs", "-o", "ssh_command="+w.sshCmd(), "localhost:"+remote, mnt)
	if r.code != 0 {
		t.Fatalf("sshfs = %d: %s", r.code, r.stderr)
	}
	t.Cleanup(func() { exec.Command("fusermount", "-u", "-z", mnt).Run() })
	if b, err := os.ReadFile(filepath.Join(mnt, "there.txt")); err != nil || string(b) != "remote file" {
		t.Fatalf("reading through the mount: %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "new.txt"), []byte("written"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("fusermount", "-u", mnt).Run(); err != nil {
		t.Fatalf("unmount: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(remote, "new.txt")); err != nil || string(b) != "written" {
		t.Fatalf("a file written through the mount: %q, %v", b, err)
	}
}

// TestSSHSFTPAsAccount: a root daemon's sftp subsystem for alice runs as
// alice: what she uploads is hers, and bob's private file and home are
// out of her reach, exactly as for her commands and file requests.
func TestSSHSFTPAsAccount(t *testing.T) {
	needTool(t, "sftp")
	w := newAccountWorld(t)
	secret := filepath.Join(w.bob.Home, "secret")
	os.WriteFile(secret, []byte("bob's secret\n"), 0o600)
	os.Chown(secret, w.bob.UID, w.bob.GID)
	bin := t.TempDir()
	os.Symlink(rexecBin, filepath.Join(bin, "rexec-ssh"))
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "up.txt"), []byte("from alice\n"), 0o644)
	sftp := func(batch string) result {
		t.Helper()
		os.WriteFile(filepath.Join(dir, "batch"), []byte(batch), 0o644)
		cmd := exec.Command("sftp", "-S", filepath.Join(bin, "rexec-ssh"), "-P", w.d.Port(), "-b", filepath.Join(dir, "batch"), w.alice.Name+"@localhost")
		cmd.Env = append(os.Environ(), "REXEC_HOME="+w.home)
		cmd.Dir = dir
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.Run()
		return result{stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode()}
	}
	if r := sftp("put up.txt\npwd\n"); r.code != 0 || !strings.Contains(r.stdout, w.alice.Home) {
		t.Fatalf("sftp put as alice = %d %q %q; want her home as the working directory", r.code, r.stdout, r.stderr)
	}
	fi, err := os.Stat(filepath.Join(w.alice.Home, "up.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if st := ownerOf(fi); st.uid != w.alice.UID || st.gid != w.alice.GID {
		t.Errorf("the uploaded file is owned by %d:%d, want alice's %d:%d", st.uid, st.gid, w.alice.UID, w.alice.GID)
	}
	if r := sftp("get " + secret + " stolen\n"); r.code == 0 {
		t.Errorf("alice read bob's file over sftp: %q", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "stolen")); err == nil {
		t.Error("the refused download left a file")
	}
	if r := sftp("put up.txt " + w.bob.Home + "/planted\n"); r.code == 0 {
		t.Errorf("alice wrote into bob's home over sftp")
	}
	if _, err := os.Stat(filepath.Join(w.bob.Home, "planted")); err == nil {
		t.Error("a file appeared in bob's home")
	}
}
