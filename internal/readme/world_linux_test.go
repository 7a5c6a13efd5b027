//go:build linux

package readme

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds of the world and of its processes.
const (
	buildTimeout   = 5 * time.Minute  // go build of cmd/rexec: a cold cache on a loaded CI machine
	setupTimeout   = 30 * time.Second // one ip, useradd or userdel command
	readyTimeout   = 30 * time.Second // a rexec serve line until it prints "serving on"
	goReadyTimeout = 3 * time.Minute  // a go run line: go may compile before the daemon starts
	stopTimeout    = 10 * time.Second // a daemon after SIGINT, then again after SIGKILL
	waitDelay      = 2 * time.Second  // exec.Cmd.WaitDelay: output held open by a stray descendant
	maxOutput      = 64 << 10         // output kept per line or daemon, for the log and failures
	bigISOSize     = 4 << 20          // big.iso: several TLS records and transfer chunks, small enough to be quick
)

// linkNet is the network of the links from the client to the servers:
// server i (1-based) is linkNet.i.2 on its eth0 and reaches the client's
// to-sI at linkNet.i.1. The namespaces see no other network, so the
// range cannot clash with the machine's own.
const linkNet = "10.231"

// systemPath follows the tour's rexec on the account's PATH.
const systemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// worldPrefix names what a run creates: the namespaces, the account, the
// directory and the hosts file, each followed by the test's pid, so that
// a later run can tell a killed run's leftovers from a running one's.
const worldPrefix = "rexec-readme-"

// servers are the machines the README names besides localhost, each a
// network namespace, an address and a home of its own. pin: the README
// assumes its host key pinned, so the check pins it (rexec trust -y) once
// its daemon serves; the README pins server.example itself.
var servers = []struct {
	name string
	pin  bool
}{
	{"server.example", false},
	{"web01", true}, {"web02", true}, {"web03", true}, {"web04", true},
	{"db1", true},
}

// fixtures are the files the README's examples name, created in the
// tour's working directory (and owned by the tour's account) before the
// tour; big.iso is added with bigISOSize bytes.
var fixtures = []struct {
	name string
	mode fs.FileMode
	data string // a symbolic link's target when link
	link bool
}{
	{name: "report.pdf", mode: 0o644, data: "%PDF-1.4\n% the README check's report\n"},
	{name: "a.txt", mode: 0o644, data: "a\n"},
	{name: "b.txt", mode: 0o644, data: "b\n"},
	{name: "app.tar", mode: 0o644, data: "the README check's app.tar\n"},
	{name: "hosts.txt", mode: 0o644, data: "# the web servers\nweb01\nweb02\nweb03\nweb04\n"},
	{name: "script.sh", mode: 0o644, data: "echo \"hello from $(uname -n)\"\nid -un\n"},
	{name: "deploy.sh", mode: 0o755, data: "#!/bin/sh\necho \"deployed in $PWD\"\n"},
	{name: "conf/app.conf", mode: 0o644, data: "listen = 8080\n"},
	{name: "conf/conf.d/extra.conf", mode: 0o644, data: "workers = 4\n"},
	{name: "conf/current.conf", data: "app.conf", link: true},
}

// prerequisites are the programs the world needs, with why.
var prerequisites = []struct{ prog, why string }{
	{"ip", "iproute2: the network namespaces"},
	{"setpriv", "util-linux: lines run as the tour's account"},
	{"mount", "util-linux: each server's own home"},
	{"useradd", "passwd: the tour's account"},
	{"userdel", "passwd: the tour's account"},
	{"install", "coreutils: go run's program, handed to the account"},
	{"ps", "procps: the README's examples use ps and uptime"},
	{"uptime", "procps: the README's examples use ps and uptime"},
}

// skipOrFail skips outside CI and fails in CI, where every prerequisite
// is installed by .ci/run.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// machine is one machine of the world.
type machine struct {
	name    string // "client", or the host name the README uses
	ns      string // its network namespace
	home    string // its home, bound onto the account's home; "" on the client, whose home it is
	pin     bool   // see servers
	pinned  bool
	daemons []*daemonProc // running, in start order
}

// world is what TestTour runs the README in.
type world struct {
	t        *testing.T
	id       string // worldPrefix + pid
	dir      string // everything below, removed at the end
	bin      string // the tour's rexec, first on PATH
	tools    string // go run's -exec program and the program it hands over
	work     string // the working directory every machine sees
	home     string // the account's home: the client's, and each server's bound onto it
	repo     string
	user     string
	uid, gid string
	client   *machine
	servers  []*machine
	env      []string // the tour's lines' environment
	goEnv    []string // go lines': the test's own, with the Go settings of newWorld
}

// newWorld builds the world of TestTour, with a t.Cleanup for each part,
// so that it is taken down even when the test fails half-way.
func newWorld(t *testing.T) *world {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "the README check needs root (network namespaces, an account)")
	}
	for _, p := range prerequisites {
		if _, err := exec.LookPath(p.prog); err != nil {
			skipOrFail(t, "the README check needs %s (%s): %v", p.prog, p.why, err)
		}
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		skipOrFail(t, "the README check builds rexec with go: %v", err)
	}
	sweepLeftovers(t)
	w := &world{t: t, id: worldPrefix + strconv.Itoa(os.Getpid())}
	w.repo, err = filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(w.repo, "go.mod")); err != nil {
		t.Fatalf("the checkout: %v", err)
	}

	w.dir, err = os.MkdirTemp("", w.id+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(w.dir); err != nil {
			t.Errorf("removing %s: %v", w.dir, err)
		}
	})
	if strings.ContainsAny(w.dir, " \t\n'\"\\") {
		t.Fatalf("%s: the world's directory must be a plain path (it goes into GOFLAGS)", w.dir)
	}
	w.bin, w.tools = filepath.Join(w.dir, "bin"), filepath.Join(w.dir, "tools")
	w.work, w.home = filepath.Join(w.dir, "work"), filepath.Join(w.dir, "home")
	for _, d := range []string{w.dir, w.bin, w.tools, filepath.Join(w.tools, "go-run"), filepath.Join(w.dir, "servers")} {
		must(t, os.MkdirAll(d, 0o755))
		must(t, os.Chmod(d, 0o755))
	}

	w.goEnv = goEnv(goBin, filepath.Join(w.tools, "go-run-exec"))
	if out, err := runRoot(buildTimeout, w.repo, w.goEnv, goBin, "build", "-o", filepath.Join(w.bin, "rexec"), "./cmd/rexec"); err != nil {
		t.Fatalf("go build ./cmd/rexec: %v\n%s", err, out)
	}

	w.addAccount()
	w.env = []string{
		"HOME=" + w.home, "USER=" + w.user, "LOGNAME=" + w.user, "SHELL=/bin/sh",
		"PATH=" + w.bin + ":" + systemPath,
	}
	w.client = &machine{name: "client", ns: w.id + "-c"}
	for i, s := range servers {
		w.servers = append(w.servers, &machine{
			name: s.name, ns: fmt.Sprintf("%s-s%d", w.id, i+1), pin: s.pin,
			home: filepath.Join(w.dir, "servers", s.name),
		})
	}
	for _, d := range append([]string{w.home, w.work}, w.serverHomes()...) {
		must(t, os.MkdirAll(d, 0o700))
	}
	must(t, os.Chmod(w.work, 0o755))
	w.writeFixtures()
	for _, d := range append([]string{w.home, w.work}, w.serverHomes()...) {
		w.chownTree(d)
	}
	w.writeGoRunExec()
	w.addNetwork()
	t.Cleanup(w.stopAll)
	return w
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// goEnv is the environment of go lines and of the build: the test's own
// (go's caches are root's, and the build settings those of `go test`, so
// that the packages it compiled are reused), with go first on PATH, the
// local toolchain and no proxy (the client's namespace has no network),
// and exec as go run's -exec program.
func goEnv(goBin, exec string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		for _, k := range []string{"GOFLAGS=", "GOTOOLCHAIN=", "GOPROXY=", "PATH="} {
			if strings.HasPrefix(kv, k) {
				return true
			}
		}
		return false
	})
	return append(env,
		"PATH="+filepath.Dir(goBin)+":"+os.Getenv("PATH"),
		"GOFLAGS=-exec="+exec, "GOTOOLCHAIN=local", "GOPROXY=off")
}

func (w *world) serverHomes() []string {
	var out []string
	for _, m := range w.servers {
		out = append(out, m.home)
	}
	return out
}

// runRoot runs a command as root outside the world's namespaces, within
// timeout, and returns its output.
func runRoot(timeout time.Duration, dir string, env []string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env, cmd.WaitDelay = dir, env, waitDelay
	return cmd.CombinedOutput()
}

// sys runs a set-up command as root and fails the test if it fails.
func (w *world) sys(name string, args ...string) {
	w.t.Helper()
	if out, err := runRoot(setupTimeout, "/", nil, name, args...); err != nil {
		w.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// unsys runs a clean-up command as root and reports a failure.
func (w *world) unsys(name string, args ...string) {
	w.t.Helper()
	if out, err := runRoot(setupTimeout, "/", nil, name, args...); err != nil {
		w.t.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// addAccount creates the tour's account, whose home is w.home (created
// after, empty), and removes it at the end.
func (w *world) addAccount() {
	w.user = w.id
	w.sys("useradd", "--no-create-home", "--home-dir", w.home, "--shell", "/bin/sh",
		"--user-group", "--comment", "rexec README check", w.user)
	w.t.Cleanup(func() { w.unsys("userdel", w.user) })
	u, err := user.Lookup(w.user)
	if err != nil {
		w.t.Fatal(err)
	}
	w.uid, w.gid = u.Uid, u.Gid
}

func (w *world) writeFixtures() {
	for _, f := range fixtures {
		p := filepath.Join(w.work, filepath.FromSlash(f.name))
		must(w.t, os.MkdirAll(filepath.Dir(p), 0o755))
		if f.link {
			must(w.t, os.Symlink(f.data, p))
			continue
		}
		must(w.t, os.WriteFile(p, []byte(f.data), f.mode))
		must(w.t, os.Chmod(p, f.mode))
	}
	iso := bytes.Repeat([]byte("the README check's big.iso\n"), bigISOSize/27+1)[:bigISOSize]
	must(w.t, os.WriteFile(filepath.Join(w.work, "big.iso"), iso, 0o644))
}

// chownTree gives the tree at dir to the tour's account.
func (w *world) chownTree(dir string) {
	uid, _ := strconv.Atoi(w.uid)
	gid, _ := strconv.Atoi(w.gid)
	must(w.t, filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	}))
}

// shq quotes s for the shell.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// writeGoRunExec writes go run's -exec program: go builds as root with the
// machine's Go caches (a fresh account could read none, and would build
// everything again), and the program it built runs as the tour's account,
// in the tour's environment, as a built rexec would.
func (w *world) writeGoRunExec() {
	prog := filepath.Join(w.tools, "go-run", "rexec")
	var env []string
	for _, kv := range w.env {
		env = append(env, shq(kv))
	}
	script := "#!/bin/sh\n" +
		"# go run's -exec program in rexec's README check (internal/readme).\n" +
		"set -e\n" +
		"install -m 0755 \"$1\" " + shq(prog) + "\n" +
		"shift\n" +
		"exec setpriv --reuid=" + w.uid + " --regid=" + w.gid + " --init-groups --pdeathsig=KILL -- " +
		"env -i " + strings.Join(env, " ") + " " + shq(prog) + " \"$@\"\n"
	must(w.t, os.WriteFile(filepath.Join(w.tools, "go-run-exec"), []byte(script), 0o755))
}

// addNetwork creates the namespaces, a veth pair from the client to each
// server, and the client's hosts file, which `ip netns exec` binds over
// /etc/hosts: localhost, and each server's name at its address.
func (w *world) addNetwork() {
	hostsDir := filepath.Join("/etc/netns", w.client.ns)
	_, err := os.Stat("/etc/netns")
	createdEtcNetns := errors.Is(err, fs.ErrNotExist)
	w.t.Cleanup(func() {
		if err := os.RemoveAll(hostsDir); err != nil {
			w.t.Errorf("removing %s: %v", hostsDir, err)
		}
		if createdEtcNetns {
			_ = os.Remove("/etc/netns") // only if empty: another run may use it
		}
	})
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
	for i, m := range w.servers {
		hosts += fmt.Sprintf("%s.%d.2\t%s\n", linkNet, i+1, m.name)
	}
	must(w.t, os.MkdirAll(hostsDir, 0o755))
	must(w.t, os.WriteFile(filepath.Join(hostsDir, "hosts"), []byte(hosts), 0o644))

	for _, m := range append([]*machine{w.client}, w.servers...) {
		w.sys("ip", "netns", "add", m.ns)
		w.t.Cleanup(func() { w.unsys("ip", "netns", "delete", m.ns) })
		w.sys("ip", "-n", m.ns, "link", "set", "lo", "up")
	}
	for i, m := range w.servers {
		link := fmt.Sprintf("to-s%d", i+1)
		w.sys("ip", "link", "add", link, "netns", w.client.ns, "type", "veth", "peer", "name", "eth0", "netns", m.ns)
		w.sys("ip", "-n", w.client.ns, "addr", "add", fmt.Sprintf("%s.%d.1/24", linkNet, i+1), "dev", link)
		w.sys("ip", "-n", m.ns, "addr", "add", fmt.Sprintf("%s.%d.2/24", linkNet, i+1), "dev", "eth0")
		w.sys("ip", "-n", w.client.ns, "link", "set", link, "up")
		w.sys("ip", "-n", m.ns, "link", "set", "eth0", "up")
	}
}

// machines are the machines a line runs on.
func (w *world) machines(p place) []*machine {
	switch p {
	case onServer:
		return w.servers[:1]
	case onEachServer:
		return w.servers
	}
	return []*machine{w.client}
}

// shell returns the command that runs the shell line text on m: in m's
// network namespace (and, on a server, with m's home bound onto the
// account's), as the tour's account in the tour's environment and
// working directory; a go line (goLine) as root in the checkout with
// goEnv. It is the leader of its own process group, which Cancel kills.
func (w *world) shell(ctx context.Context, m *machine, text string, goLine bool) *exec.Cmd {
	argv := []string{"ip", "netns", "exec", m.ns}
	if m.home != "" {
		argv = append(argv, "/bin/sh", "-c", `mount --bind "$1" "$2" && shift 2 && exec "$@"`, "sh", m.home, w.home)
	}
	if !goLine {
		argv = append(argv, "setpriv", "--reuid="+w.uid, "--regid="+w.gid, "--init-groups", "--pdeathsig=KILL", "--")
	}
	argv = append(argv, "/bin/sh", "-c", text)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = w.env, w.work
	if goLine {
		cmd.Env, cmd.Dir = w.goEnv, w.repo
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	return cmd
}

// result is how a command line ended.
type result struct {
	status   int  // its exit status; -1 when a signal ended it
	timedOut bool // lineTimeout fired and the line was killed
	output   string
}

// run runs the shell line text on m to its end, within lineTimeout, with
// standard input empty (no terminal, as from a script).
func (w *world) run(m *machine, text string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), lineTimeout)
	defer cancel()
	cmd := w.shell(ctx, m, text, strings.HasPrefix(text, "go "))
	out := &boundedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	r := result{timedOut: ctx.Err() != nil, output: out.String()}
	if cmd.ProcessState == nil {
		return r, fmt.Errorf("could not start: %w", err)
	}
	r.status = cmd.ProcessState.ExitCode()
	if errors.Is(err, exec.ErrWaitDelay) {
		return r, errors.New("exited but left a process holding its output")
	}
	return r, nil
}

// boundedBuffer keeps the first maxOutput bytes written to it.
type boundedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := maxOutput - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *boundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// watchWriter is a daemon's standard error: kept like a boundedBuffer,
// and ready closed once readyMark was written.
type watchWriter struct {
	boundedBuffer
	ready chan struct{}
	seen  bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	n, err := w.boundedBuffer.Write(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.seen && bytes.Contains(w.buf.Bytes(), []byte(readyMark)) {
		w.seen = true
		close(w.ready)
	}
	return n, err
}

// daemonProc is a daemon line running on a machine.
type daemonProc struct {
	line   tourLine
	m      *machine
	addrs  []string
	cmd    *exec.Cmd
	stderr *watchWriter
	stdout *boundedBuffer
	done   chan struct{} // closed once Wait returned
	err    error         // Wait's, read after done
}

// describe names the daemon in messages.
func (d *daemonProc) describe() string {
	return fmt.Sprintf("the daemon of README.md:%d on %s", d.line.num, d.m.name)
}

// startDaemon starts the daemon line l on m and waits until it serves.
// A running daemon of m that holds one of its addresses is stopped first
// when it was started in the same section; otherwise l fails.
func (w *world) startDaemon(m *machine, l tourLine) error {
	addrs, err := daemonAddrs(l.command)
	if err != nil {
		return err
	}
	for _, d := range slices.Clone(m.daemons) {
		held := slices.ContainsFunc(addrs, func(a string) bool {
			return slices.ContainsFunc(d.addrs, func(b string) bool { return conflict(a, b) })
		})
		if !held {
			continue
		}
		if d.line.section != l.section {
			return fmt.Errorf("it listens on an address of %s (%s), a daemon of section %q, which runs beside the rest of the tour",
				d.describe(), strings.Join(d.addrs, ", "), d.line.section)
		}
		if err := w.stopDaemon(d); err != nil {
			return err
		}
	}
	// exec: the daemon is the process the check started, so that it
	// inherits the parent-death signal (the shell would otherwise fork it)
	cmd := w.shell(context.Background(), m, "exec "+l.text, strings.HasPrefix(l.command, "go "))
	d := &daemonProc{
		line: l, m: m, addrs: addrs, cmd: cmd,
		stderr: &watchWriter{ready: make(chan struct{})}, stdout: &boundedBuffer{},
		done: make(chan struct{}),
	}
	cmd.Stdout, cmd.Stderr = d.stdout, d.stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("could not start: %w", err)
	}
	m.daemons = append(m.daemons, d)
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	timeout := readyTimeout
	if strings.HasPrefix(l.command, "go ") {
		timeout = goReadyTimeout
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-d.stderr.ready:
		w.t.Logf("README.md:%d on %s: serving\n%s", l.num, m.name, d.stderr.String())
		return nil
	case <-d.done:
		err = fmt.Errorf("exited before it served")
	case <-timer.C:
		err = fmt.Errorf("did not print %q within %v", readyMark, timeout)
	}
	if stopErr := w.stopDaemon(d); stopErr != nil && !errors.Is(err, errExitedEarly) {
		err = fmt.Errorf("%w; %w", err, stopErr)
	}
	return fmt.Errorf("%w\n%s%s", err, d.stdout.String(), d.stderr.String())
}

// errExitedEarly: a daemon had exited before the check stopped it.
var errExitedEarly = errors.New("had exited before it was stopped")

// stopDaemon stops d as Ctrl-C in its terminal would (SIGINT to its
// process group: `go run` waits for its program, which drains), then
// with SIGKILL if it has not exited within stopTimeout.
func (w *world) stopDaemon(d *daemonProc) error {
	d.m.daemons = slices.DeleteFunc(d.m.daemons, func(e *daemonProc) bool { return e == d })
	select {
	case <-d.done:
		return fmt.Errorf("%s %w (%v)", d.describe(), errExitedEarly, d.err)
	default:
	}
	pgid := d.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGINT)
	if waitClosed(d.done, stopTimeout) {
		return nil
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if !waitClosed(d.done, stopTimeout) {
		return fmt.Errorf("%s did not exit even %v after SIGKILL", d.describe(), stopTimeout)
	}
	return fmt.Errorf("%s did not stop within %v of SIGINT and was killed", d.describe(), stopTimeout)
}

func waitClosed(c <-chan struct{}, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c:
		return true
	case <-t.C:
		return false
	}
}

// stopAll stops every daemon still running, the last started first. A
// daemon that exited by itself before is a failure: the tour's daemons
// run until they are stopped.
func (w *world) stopAll() {
	for _, m := range append([]*machine{w.client}, w.servers...) {
		for len(m.daemons) > 0 {
			d := m.daemons[len(m.daemons)-1]
			if err := w.stopDaemon(d); err != nil {
				w.t.Errorf("%v\n%s%s", err, d.stdout.String(), d.stderr.String())
			}
		}
	}
}

// pinServing pins, on the client, the host key of each server the README
// assumes pinned (servers' pin) whose daemon now serves.
func (w *world) pinServing() error {
	for _, m := range w.servers {
		if !m.pin || m.pinned || len(m.daemons) == 0 {
			continue
		}
		r, err := w.run(w.client, "rexec trust -y "+m.name)
		if err == nil && (r.status != 0 || r.timedOut) {
			err = fmt.Errorf("exit status %d", r.status)
		}
		if err != nil {
			return fmt.Errorf("the check's rexec trust -y %s: %w\n%s", m.name, err, r.output)
		}
		m.pinned = true
	}
	return nil
}

// sweepLeftovers removes what a killed run left behind (a go test
// -timeout panic skips t.Cleanup): for each namespace, hosts file,
// account or directory named worldPrefix + the pid of a process that is
// gone, the processes in the namespace (the tour's own daemons), then the
// namespace, the hosts file, the account and the directory.
func sweepLeftovers(t *testing.T) {
	t.Helper()
	gone := func(name string) bool {
		rest, ok := strings.CutPrefix(name, worldPrefix)
		if !ok {
			return false
		}
		digits, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(digits)
		if err != nil || pid <= 0 {
			return false
		}
		err = syscall.Kill(pid, 0)
		return errors.Is(err, syscall.ESRCH)
	}
	sweep := func(name string, args ...string) {
		if out, err := runRoot(setupTimeout, "/", nil, name, args...); err != nil {
			t.Logf("sweeping a killed run's leftovers: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	list, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	for _, line := range strings.Split(string(list), "\n") {
		ns, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if !gone(ns) {
			continue
		}
		pids, _ := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
		for _, p := range strings.Fields(string(pids)) {
			if pid, err := strconv.Atoi(p); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		sweep("ip", "netns", "delete", ns)
	}
	if entries, err := os.ReadDir("/etc/netns"); err == nil {
		for _, e := range entries {
			if gone(e.Name()) {
				_ = os.RemoveAll(filepath.Join("/etc/netns", e.Name()))
			}
		}
	}
	if passwd, err := os.ReadFile("/etc/passwd"); err == nil {
		for _, line := range strings.Split(string(passwd), "\n") {
			if name, _, _ := strings.Cut(line, ":"); gone(name) {
				sweep("userdel", name)
			}
		}
	}
	if entries, err := os.ReadDir(os.TempDir()); err == nil {
		for _, e := range entries {
			if gone(e.Name()) {
				_ = os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
			}
		}
	}
}
