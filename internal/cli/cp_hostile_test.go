package cli_test

import (
	"crypto/ed25519"
	"crypto/tls"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
	"github.com/rexec-dev/rexec/internal/transfer"
	"github.com/rexec-dev/rexec/internal/transport"
)

// hostileAnswers are what a hostile server (rexectest.FakeServer)
// speaking just enough of the protocol to answer `rexec cp` says: its stat
// function answers each stat, its get function each get (then get_end
// follows).
type hostileAnswers struct {
	stat func(path string) protocol.StatResult
	get  func(pc *protocol.Conn, m protocol.Get)
}

// startHostileServer answers every stat with the name "src" and kind,
// every get with scenario.
func startHostileServer(t *testing.T, kind string, scenario func(pc *protocol.Conn)) *rexectest.FakeServer {
	return startHostile(t, hostileAnswers{
		stat: func(string) protocol.StatResult { return protocol.StatResult{Name: "src", Kind: kind} },
		get:  func(pc *protocol.Conn, _ protocol.Get) { scenario(pc) },
	})
}

func startHostile(t *testing.T, a hostileAnswers) *rexectest.FakeServer {
	t.Helper()
	return rexectest.StartFakeServer(t, protocol.Hello{Software: "hostile"}, func(pc *protocol.Conn) { a.play(pc) })
}

// play answers the requests of one connection until it ends.
func (a hostileAnswers) play(pc *protocol.Conn) {
	for {
		m, err := pc.Recv()
		if err != nil {
			return
		}
		switch m := m.(type) {
		case protocol.Stat:
			_ = pc.Send(a.stat(m.Path))
		case protocol.Get:
			a.get(pc, m)
			_ = pc.Send(protocol.GetEnd{})
		case protocol.Ping:
			_ = pc.Send(protocol.Pong{})
		}
	}
}

// sendFile sends a whole file entry as a server answering a get would.
func sendFile(pc *protocol.Conn, name string, mode int, content string) {
	_ = pc.Send(protocol.Entry{Name: name, Kind: protocol.KindFile, Length: int64(len(content)), Mode: mode})
	if content != "" {
		_ = pc.Send(protocol.Data{Stream: protocol.TypeFileData, Body: []byte(content)})
	}
	_ = pc.Send(protocol.FileEnd{Hash: protocol.HashBLAKE3, Digest: transfer.Digest([]byte(content))})
}

// assertContained fails if anything was created in outside, or if any
// file under dst is setuid or setgid.
func assertContained(t *testing.T, dst, outside string) {
	t.Helper()
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("created outside the target: %v", entries)
	}
	_ = filepath.WalkDir(dst, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if fi, err := e.Info(); err == nil && fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			t.Errorf("%s has mode %v: setuid or setgid from the peer", p, fi.Mode())
		}
		return nil
	})
}

func TestCpHostileServer(t *testing.T) {
	home := t.TempDir()
	if r := rexec(t, home, nil, "keygen"); r.code != 0 {
		t.Fatalf("keygen = %d, %q", r.code, r.stderr)
	}
	tests := []struct {
		name      string
		kind      string // what the stat says
		recursive bool
		scenario  func(pc *protocol.Conn, outside string)
		code      int
		wantFile  string // a file that must arrive under dst
	}{
		{"dot-dot", protocol.KindDir, true, func(pc *protocol.Conn, _ string) {
			sendFile(pc, "../outside/x", 0o644, "escaped")
		}, 255, ""},
		{"absolute", protocol.KindDir, true, func(pc *protocol.Conn, outside string) {
			sendFile(pc, outside+"/x", 0o644, "escaped")
		}, 255, ""},
		{"symlink then a file through it", protocol.KindDir, true, func(pc *protocol.Conn, outside string) {
			_ = pc.Send(protocol.Entry{Name: "l", Kind: protocol.KindSymlink, Target: outside})
			sendFile(pc, "l/x", 0o644, "escaped")
		}, 255, ""},
		{"relative symlink then a directory through it", protocol.KindDir, true, func(pc *protocol.Conn, _ string) {
			_ = pc.Send(protocol.Entry{Name: "r", Kind: protocol.KindSymlink, Target: "../../outside"})
			_ = pc.Send(protocol.Entry{Name: "r/d", Kind: protocol.KindDir, Mode: 0o755})
		}, 255, ""},
		{"unrequested file", protocol.KindFile, false, func(pc *protocol.Conn, _ string) {
			sendFile(pc, ".", 0o644, "asked for")
			sendFile(pc, "extra", 0o644, "not asked for")
		}, 255, "got"},
		{"setuid mode", protocol.KindFile, false, func(pc *protocol.Conn, _ string) {
			sendFile(pc, ".", 0o6755, "setuid")
		}, 0, "got"},
		{"setgid directory", protocol.KindDir, true, func(pc *protocol.Conn, _ string) {
			sendFile(pc, "f", 0o4700, "x")
			_ = pc.Send(protocol.Entry{Name: ".", Kind: protocol.KindDir, Mode: 0o2755})
		}, 0, "got/f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			dst, outside := filepath.Join(base, "dst"), filepath.Join(base, "outside")
			for _, d := range []string{dst, outside} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			s := startHostileServer(t, tt.kind, func(pc *protocol.Conn) { tt.scenario(pc, outside) })
			args := []string{"cp", "--accept-new", "-P", s.Port}
			if tt.recursive {
				args = append(args, "-r")
			}
			r := rexec(t, home, nil, append(args, "localhost:src", filepath.Join(dst, "got"))...)
			if r.code != tt.code {
				t.Errorf("cp from a hostile server = %d, stderr %q; want %d", r.code, r.stderr, tt.code)
			}
			if tt.code != 0 && strings.Count(r.stderr, "\n") < 1 {
				t.Errorf("no message for a refused transfer")
			}
			assertContained(t, dst, outside)
			if tt.wantFile != "" {
				if _, err := os.Stat(filepath.Join(dst, tt.wantFile)); err != nil {
					t.Errorf("the requested file did not arrive: %v", err)
				}
			}
			if _, err := os.Lstat(filepath.Join(dst, "got", "extra")); err == nil {
				t.Errorf("an unrequested file was written")
			}
		})
	}
}

// hostileClient connects to d with d's own (authorized) identity and
// speaks the protocol directly.
func hostileClient(t *testing.T, d *daemon) *protocol.Conn {
	t.Helper()
	id, err := auth.LoadIdentity(filepath.Join(d.Home, "id_ed25519"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := transport.ClientConfig(id, func(ed25519.PublicKey) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", "127.0.0.1:"+d.Port())
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	pc := protocol.NewConn(tls.Client(nc, cfg))
	t.Cleanup(func() { pc.Close() })
	if err := pc.Send(protocol.Hello{Version: protocol.Version}); err != nil {
		t.Fatal(err)
	}
	if m, err := pc.Recv(); err != nil || m.Type() != protocol.TypeHello {
		t.Fatalf("hello = %v, %v", m, err)
	}
	return pc
}

// putFile uploads content as name into dir and returns the server's reply.
func putFile(t *testing.T, pc *protocol.Conn, dir, name string, mode int, content string) protocol.Message {
	t.Helper()
	_ = pc.Send(protocol.Put{Path: dir, Name: name, Kind: protocol.KindFile, Length: int64(len(content)), Mode: mode})
	_ = pc.Send(protocol.Data{Stream: protocol.TypeFileData, Body: []byte(content)})
	_ = pc.Send(protocol.FileEnd{Hash: protocol.HashBLAKE3, Digest: transfer.Digest([]byte(content))})
	return reply(t, pc)
}

func reply(t *testing.T, pc *protocol.Conn) protocol.Message {
	t.Helper()
	for {
		m, err := pc.Recv()
		if err != nil {
			t.Fatalf("no reply from the server: %v", err)
		}
		if _, ok := m.(protocol.Ping); !ok {
			return m
		}
	}
}

func wantError(t *testing.T, what string, m protocol.Message, code string) {
	t.Helper()
	if e, ok := m.(protocol.Error); !ok || e.Code != code {
		t.Errorf("%s: reply %#v, want error %s", what, m, code)
	}
}

func TestCpHostileClient(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	base := t.TempDir()
	dst, outside := filepath.Join(base, "dst"), filepath.Join(base, "outside")
	for _, dir := range []string{dst, outside} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The names a download refuses (TestCpHostileDownloadNames) are
	// refused by the daemon's receiver too.
	for _, name := range []string{"../outside/x", outside + "/x", "a/../../outside/x", ".", "a//b",
		".x.rexec-part-0123456789abcdef", "..", "x/..", "./x", "x/", "/", "\x1b]0;owned\x07/../../outside/x"} {
		pc := hostileClient(t, d)
		wantError(t, "put "+name, putFile(t, pc, dst, name, 0o644, "escaped"), protocol.CodeProtocol)
		if _, err := pc.Recv(); err == nil {
			t.Errorf("put %q: the connection stayed open after a protocol violation", name)
		}
	}
	pc := hostileClient(t, d)
	_ = pc.Send(protocol.Put{Path: dst, Name: "l", Kind: protocol.KindSymlink, Target: outside})
	if m := reply(t, pc); m.Type() != protocol.TypePutOK {
		t.Fatalf("symlink put: %#v", m)
	}
	wantError(t, "file through a symlink", putFile(t, pc, dst, "l/x", 0o644, "escaped"), protocol.CodeIO)
	_ = pc.Send(protocol.Put{Path: dst, Name: "l/d", Kind: protocol.KindDir, Mode: 0o755})
	wantError(t, "directory through a symlink", reply(t, pc), protocol.CodeIO)
	if m := putFile(t, pc, dst, "suid", 0o6755, "x"); m.Type() != protocol.TypePutOK {
		t.Errorf("setuid put: %#v, want put_ok with the bits dropped", m)
	}
	if fi, err := os.Stat(filepath.Join(dst, "suid")); err != nil || fi.Mode() != 0o755 {
		t.Errorf("setuid upload arrived as %v, %v; want -rwxr-xr-x", fi, err)
	}
	// A file whose bytes do not match its digest is refused, and nothing is kept.
	_ = pc.Send(protocol.Put{Path: dst, Name: "lie", Kind: protocol.KindFile, Length: 3})
	_ = pc.Send(protocol.Data{Stream: protocol.TypeFileData, Body: []byte("abc")})
	_ = pc.Send(protocol.FileEnd{Hash: protocol.HashBLAKE3, Digest: strings.Repeat("0", 64)})
	wantError(t, "wrong digest", reply(t, pc), protocol.CodeIntegrity)
	// Bytes that no put asked for.
	_ = pc.Send(protocol.Data{Stream: protocol.TypeFileData, Body: []byte("stray")})
	wantError(t, "unrequested data", reply(t, pc), protocol.CodeProtocol)
	assertContained(t, dst, outside)
	if entries, _ := os.ReadDir(dst); len(entries) != 2 {
		t.Errorf("destination holds %v, want only the symlink and suid", entries)
	}
}

func TestCpDiskFull(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	dir := t.TempDir()
	mnt := filepath.Join(dir, "small")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=10m", "tmpfs", mnt).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mounting a 10 MiB tmpfs: %v %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	src := filepath.Join(dir, "src.bin")
	writeRandom(t, src, 20<<20, 9)
	target := filepath.Join(mnt, "target")
	old := []byte(strings.Repeat("old\n", 1<<18)) // 1 MiB
	if err := os.WriteFile(target, old, 0o644); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		args []string
	}{
		{"upload", []string{src, remote(target)}},
		{"download", []string{remote(src), target}},
	}
	for _, c := range checks {
		r := cp(t, d, c.args...)
		if r.code != 1 || !strings.Contains(r.stderr, "no space left on device") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s of 20 MiB into 10 MiB = %d, stderr %q; want 1 and one line saying no space", c.name, r.code, r.stderr)
		}
		if got, err := os.ReadFile(target); err != nil || string(got) != string(old) {
			t.Errorf("%s: the old target was damaged (%d bytes, %v)", c.name, len(got), err)
		}
		if left := tempFilesIn(t, mnt); len(left) != 0 {
			t.Errorf("%s: temporary files left on the full disk: %v", c.name, left)
		}
	}
}

// treeState describes everything under root, for comparing before and
// after: a file's mode and content, a directory's mode, a link's target.
func treeState(t *testing.T, root string) map[string]string {
	t.Helper()
	state := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			state[p] = "link " + target
		case fi.IsDir():
			state[p] = fmt.Sprintf("dir %v", fi.Mode())
		default:
			b, _ := os.ReadFile(p)
			state[p] = fmt.Sprintf("file %v %q", fi.Mode(), b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return state
}

// changedOutside lists the paths of before or after that differ and are
// neither target nor below it.
func changedOutside(before, after map[string]string, target string) []string {
	var out []string
	inside := func(p string) bool { return p == target || strings.HasPrefix(p, target+string(filepath.Separator)) }
	for p, s := range after {
		if before[p] != s && !inside(p) {
			out = append(out, p+": "+s)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok && !inside(p) {
			out = append(out, p+": removed")
		}
	}
	return out
}

// TestCpHostileDownloadNames plays a server that answers downloads with
// names of its own: another top-level name (.bashrc for report.txt, .ssh
// for a tree), "..", absolute names, a link then a file through it, an
// entry not asked for, escape sequences in names. For each, a single
// file and -r, into an existing directory and to an explicit target:
// rexec cp exits 255 with one line on stderr that holds no raw control
// character, nothing changes in the temporary HOME outside the target
// the user named (~/.bashrc unchanged, no ~/.ssh/authorized_keys), and no
// entry after the refused one is written. The same server answering
// honestly is obeyed, so the fixture is one a real client accepts.
func TestCpHostileDownloadNames(t *testing.T) {
	rhome := t.TempDir()
	if r := rexec(t, rhome, nil, "keygen"); r.code != 0 {
		t.Fatalf("keygen = %d, %q", r.code, r.stderr)
	}
	const evil = "\x1b]0;owned\x07\x1b[2J\u009b31m"
	file := func(pc *protocol.Conn, name, content string) { sendFile(pc, name, 0o644, content) }
	link := func(pc *protocol.Conn, name, target string) {
		_ = pc.Send(protocol.Entry{Name: name, Kind: protocol.KindSymlink, Target: target})
	}
	dir := func(pc *protocol.Conn, name string) {
		_ = pc.Send(protocol.Entry{Name: name, Kind: protocol.KindDir, Mode: 0o755})
	}
	scenarios := []struct {
		name     string
		statName map[bool]string // the stat answer's name by tree; absent: the one asked for
		get      func(pc *protocol.Conn, tree bool, home string)
		code     int // 0: obeyed; 255: refused as a protocol violation
	}{
		{"honest", nil, func(pc *protocol.Conn, tree bool, _ string) {
			if !tree {
				file(pc, ".", "report")
				return
			}
			file(pc, "a/f", "f")
			link(pc, "l", "a/f")
			dir(pc, "a")
			dir(pc, ".")
		}, 0},
		{"another top-level name", map[bool]string{false: ".bashrc", true: ".ssh"}, func(pc *protocol.Conn, tree bool, _ string) {
			if !tree {
				file(pc, ".", "planted")
				return
			}
			file(pc, "authorized_keys", "ssh-ed25519 AAAA planted")
			dir(pc, ".")
		}, 255},
		{"an entry under another name", nil, func(pc *protocol.Conn, tree bool, _ string) {
			if !tree {
				file(pc, ".bashrc", "planted")
				return
			}
			dir(pc, ".")
			file(pc, ".bashrc", "planted")
		}, 255},
		{"dot-dot", nil, func(pc *protocol.Conn, tree bool, _ string) {
			if tree {
				file(pc, "ok", "1")
			}
			file(pc, "../.bashrc", "planted")
			file(pc, "after", "2")
		}, 255},
		{"absolute", nil, func(pc *protocol.Conn, _ bool, home string) {
			file(pc, home+"/.ssh/authorized_keys", "ssh-ed25519 AAAA planted")
			file(pc, "after", "2")
		}, 255},
		{"link then a file through it", nil, func(pc *protocol.Conn, tree bool, home string) {
			if !tree {
				link(pc, ".", home+"/.bashrc")
				file(pc, ".", "planted")
				return
			}
			link(pc, "l", home+"/.ssh")
			file(pc, "l/authorized_keys", "ssh-ed25519 AAAA planted")
			file(pc, "after", "2")
		}, 255},
		{"entry not asked for", nil, func(pc *protocol.Conn, tree bool, _ string) {
			if !tree {
				file(pc, ".", "report")
				file(pc, "after", "extra")
				return
			}
			file(pc, "f", "1")
			dir(pc, ".")
			file(pc, "after", "extra")
		}, 255},
		{"escape sequences in names", nil, func(pc *protocol.Conn, tree bool, _ string) {
			if !tree {
				file(pc, evil, "x")
				return
			}
			file(pc, "ok"+evil, "1")
			file(pc, evil+"/../../.bashrc", "planted")
			file(pc, "after", "2")
		}, 255},
		{"escape sequences in the stat answer", map[bool]string{false: evil + "report.txt", true: evil + "proj"},
			func(pc *protocol.Conn, _ bool, _ string) { file(pc, ".", "x") }, 255},
		{"escape sequences in an error message", nil, func(pc *protocol.Conn, _ bool, _ string) {
			_ = pc.Send(protocol.Error{Code: protocol.CodePermission, Message: "/srv/" + evil + ": permission denied"})
		}, 1}, // a file that could not be copied
	}
	for _, sc := range scenarios {
		for _, tree := range []bool{false, true} {
			for _, into := range []bool{true, false} {
				name := fmt.Sprintf("%s/tree=%v/into_dir=%v", strings.ReplaceAll(sc.name, " ", "_"), tree, into)
				t.Run(name, func(t *testing.T) {
					checkHostileDownload(t, rhome, sc.statName, sc.get, tree, into, sc.code)
				})
			}
		}
	}
}

func checkHostileDownload(t *testing.T, rhome string, statName map[bool]string,
	get func(pc *protocol.Conn, tree bool, home string), tree, into bool, code int) {
	base := t.TempDir()
	home := filepath.Join(base, "home")
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".bashrc"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	remotePath, kind := "/srv/report.txt", protocol.KindFile
	if tree {
		remotePath, kind = "/srv/proj", protocol.KindDir
	}
	s := startHostile(t, hostileAnswers{
		stat: func(p string) protocol.StatResult {
			name, ok := statName[tree]
			if !ok {
				name = filepath.Base(p)
			}
			return protocol.StatResult{Name: name, Kind: kind}
		},
		get: func(pc *protocol.Conn, _ protocol.Get) { get(pc, tree, home) },
	})
	dst, target := home+"/", filepath.Join(home, filepath.Base(remotePath))
	if !into {
		dst, target = filepath.Join(home, "got"), filepath.Join(home, "got")
	}
	args := []string{"cp", "--accept-new", "-P", s.Port}
	if tree {
		args = append(args, "-r")
	}
	before := treeState(t, base)
	r := rexecEnv(t, rhome, []string{"HOME=" + home}, nil, append(args, "localhost:"+remotePath, dst)...)
	switch {
	case code == 0 && (r.code != 0 || r.stderr != ""):
		t.Errorf("cp from an honest server = %d, stderr %q", r.code, r.stderr)
	case code != 0 && (r.code != code || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "rexec: ")):
		t.Errorf("cp = %d, stderr %q; want %d and one line", r.code, r.stderr, code)
	}
	if strings.ContainsAny(r.stderr+r.stdout, "\x1b\x07\u009b") {
		t.Errorf("raw control characters reached the terminal: stderr %q", r.stderr)
	}
	after := treeState(t, base)
	if changed := changedOutside(before, after, target); len(changed) > 0 {
		t.Errorf("written outside %s: %q (stderr %q)", target, changed, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(home, ".bashrc")); err != nil || string(b) != "mine\n" {
		t.Errorf("~/.bashrc is now %q, %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(home, ".ssh", "authorized_keys")); err == nil {
		t.Errorf("~/.ssh/authorized_keys was planted")
	}
	for p := range after {
		if filepath.Base(p) == "after" {
			t.Errorf("%s was written after the refused entry", p)
		}
	}
	if code == 0 {
		if _, err := os.Stat(target); err != nil {
			t.Errorf("the honest download did not arrive at %s: %v", target, err)
		}
	}
}

// TestCpHostileNamesOnTerminal: on a terminal, a file of the tree whose
// name holds escape sequences (a legitimate name, written inside the
// destination) is reported (-v) with them escaped beside the tree's bar,
// and a server's error message is printed escaped: the terminal's title
// is never set, the screen never cleared.
func TestCpHostileNamesOnTerminal(t *testing.T) {
	rhome := t.TempDir()
	if r := rexec(t, rhome, nil, "keygen"); r.code != 0 {
		t.Fatalf("keygen = %d, %q", r.code, r.stderr)
	}
	const evil = "\x1b]0;owned\x07\x1b[2J"
	s := startHostile(t, hostileAnswers{
		stat: func(string) protocol.StatResult { return protocol.StatResult{Name: "proj", Kind: protocol.KindDir} },
		get: func(pc *protocol.Conn, _ protocol.Get) {
			sendFile(pc, "ok"+evil, 0o644, strings.Repeat("x", 1<<16))
			_ = pc.Send(protocol.Error{Code: protocol.CodePermission, Message: "/srv/proj/" + evil + ": permission denied"})
			_ = pc.Send(protocol.Entry{Name: ".", Kind: protocol.KindDir, Mode: 0o755})
		},
	})
	dst := t.TempDir()
	screen, code := onTerminal(t, rhome, "cp", "--accept-new", "-P", s.Port, "-r", "-v", "localhost:/srv/proj", dst)
	if code != 1 {
		t.Errorf("status %d, want 1 (one item refused by the server); screen %q", code, screen)
	}
	if strings.Contains(screen, "\x1b]0;") || strings.Contains(screen, "\x07") || strings.Contains(screen, "\x1b[2J") {
		t.Errorf("a raw escape sequence from the server reached the terminal: %q", screen)
	}
	for _, want := range []string{`ok\x1b]0;owned`, `/srv/proj/\x1b]0;owned\x07\x1b[2J: permission denied`} {
		if !strings.Contains(screen, want) {
			t.Errorf("the screen lacks %q: %q", want, screen)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dst, "proj", "ok"+evil)); err != nil || len(b) != 1<<16 {
		t.Errorf("the file with the odd name did not arrive inside the destination: %d bytes, %v", len(b), err)
	}
}
