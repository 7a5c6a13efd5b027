package cli_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transport"
)

// hostileServer is a test fixture speaking just enough of the protocol to
// answer `rexec cp` with whatever a scenario sends: the stat gets kind,
// the get gets the scenario's frames.
type hostileServer struct {
	ln   net.Listener
	port string
	wg   sync.WaitGroup
}

func startHostileServer(t *testing.T, kind string, scenario func(pc *protocol.Conn)) *hostileServer {
	t.Helper()
	id, err := auth.GenerateIdentity("hostile")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := transport.ServerConfig(id)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	s := &hostileServer{ln: ln, port: port}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.serve(tls.Server(nc, cfg), kind, scenario)
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *hostileServer) serve(tc *tls.Conn, kind string, scenario func(*protocol.Conn)) {
	pc := protocol.NewConn(tc)
	defer pc.Close()
	_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := pc.Recv(); err != nil {
		return
	}
	if pc.Send(protocol.Hello{Version: protocol.Version, Software: "hostile"}) != nil {
		return
	}
	for {
		m, err := pc.Recv()
		if err != nil {
			return
		}
		switch m.(type) {
		case protocol.Stat:
			_ = pc.Send(protocol.StatResult{Name: "src", Kind: kind})
		case protocol.Get:
			scenario(pc)
			_ = pc.Send(protocol.GetEnd{})
		case protocol.Ping:
			_ = pc.Send(protocol.Pong{})
		}
	}
}

// sendFile sends a whole file entry as a server answering a get would.
func sendFile(pc *protocol.Conn, name string, mode int, content string) {
	sum := sha256.Sum256([]byte(content))
	_ = pc.Send(protocol.Entry{Name: name, Kind: protocol.KindFile, Length: int64(len(content)), Mode: mode})
	if content != "" {
		_ = pc.Send(protocol.Data{Stream: protocol.TypeFileData, Body: []byte(content)})
	}
	_ = pc.Send(protocol.FileEnd{SHA256: hex.EncodeToString(sum[:])})
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
			args := []string{"cp", "--accept-new", "-P", s.port}
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
	id, err := auth.LoadIdentity(filepath.Join(d.home, "id_ed25519"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := transport.ClientConfig(id, func(ed25519.PublicKey) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", "127.0.0.1:"+d.port)
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
	sum := sha256.Sum256([]byte(content))
	_ = pc.Send(protocol.Put{Path: dir, Name: name, Kind: protocol.KindFile, Length: int64(len(content)), Mode: mode})
	_ = pc.Send(protocol.Data{Stream: protocol.TypeFileData, Body: []byte(content)})
	_ = pc.Send(protocol.FileEnd{SHA256: hex.EncodeToString(sum[:])})
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
	for _, name := range []string{"../outside/x", outside + "/x", "a/../../outside/x", ".", "a//b",
		".x.rexec-part-0123456789abcdef"} {
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
	_ = pc.Send(protocol.FileEnd{SHA256: strings.Repeat("0", 64)})
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
