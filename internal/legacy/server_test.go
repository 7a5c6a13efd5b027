package legacy

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestServeReturns(t *testing.T) {
	t.Run("ctx done", func(t *testing.T) {
		srv := startServer(t, nil)
		dialRaw(t, srv.addr).Write([]byte("sleep 30")) // a command in flight
		time.Sleep(100 * time.Millisecond)
		if err := srv.stop(); err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	})
	t.Run("listener closed", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- (&Server{}).Serve(context.Background(), ln) }()
		ln.Close()
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("Serve after ln.Close = %v, want net.ErrClosed", err)
			}
		case <-time.After(testTimeout):
			t.Fatal("Serve did not return")
		}
	})
}

// expectClosed checks the server closes c without replying.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	n, err := io.Copy(io.Discard, c)
	if errors.Is(err, syscall.ECONNRESET) { // closed with our bytes unread
		err = nil
	}
	if err != nil || n != 0 {
		t.Errorf("connection: %d bytes, %v; want closed without a reply", n, err)
	}
}

func TestServerRefusesMisbehaviour(t *testing.T) {
	srv := startServer(t, &Server{IdleTimeout: 200 * time.Millisecond})
	t.Run("idle", func(t *testing.T) {
		expectClosed(t, dialRaw(t, srv.addr))
	})
	t.Run("command too long", func(t *testing.T) {
		c := dialRaw(t, srv.addr)
		c.Write([]byte("echo " + strings.Repeat("x", MaxCommandSize)))
		expectClosed(t, c)
	})
	t.Run("too much sent while running", func(t *testing.T) {
		c := dialRaw(t, srv.addr)
		c.Write([]byte("sleep 30"))
		time.Sleep(100 * time.Millisecond)
		c.Write([]byte(strings.Repeat("x", MaxCommandSize+1)))
		expectClosed(t, c)
	})
	out, _, err := runOurs(t, &Client{Addr: srv.addr, HideHeader: true}, "echo fine")
	if err != nil || out != "fine\n" {
		t.Errorf("after misbehaving clients: %q, %v; want fine", out, err)
	}
}

func TestServerCutsCommandsShort(t *testing.T) {
	srv := startServer(t, &Server{CommandTimeout: 300 * time.Millisecond})
	out, _, err := runOurs(t, &Client{Addr: srv.addr, HideHeader: true}, "echo before; sleep 30")
	if want := "before\n\nlegacy: command killed after 300ms\n"; err != nil || out != want {
		t.Errorf("timed-out command = %q, %v; want %q", out, err, want)
	}
	srv = startServer(t, nil)
	start := time.Now()
	out, _, err = runOurs(t, &Client{Addr: srv.addr, HideHeader: true}, "sleep 30 & echo main done")
	if err != nil || out != "main done\n" {
		t.Errorf("background child holding the pipe: %q, %v", out, err)
	}
	if took := time.Since(start); took > PipeDrainGrace+10*time.Second {
		t.Errorf("reply took %v, want about PipeDrainGrace", took)
	}
	out, _, err = runOurs(t, &Client{Addr: srv.addr, HideHeader: true}, "cat; echo no stdin")
	if err != nil || out != "no stdin\n" {
		t.Errorf("command reading stdin: %q, %v; want EOF at once", out, err)
	}
}

func TestServerMaxConns(t *testing.T) {
	srv := startServer(t, &Server{MaxConns: 1})
	busy := dialRaw(t, srv.addr)
	busy.Write([]byte("echo busy"))
	if got := readRawReply(t, busy); got != "busy\n" {
		t.Fatalf("first connection = %q", got)
	}
	expectClosed(t, dialRaw(t, srv.addr))
	busy.Close()
	ok := waitFor(testTimeout, func() bool {
		out, _, err := runOurs(t, &Client{Addr: srv.addr, HideHeader: true}, "echo free")
		return err == nil && out == "free\n"
	})
	if !ok {
		t.Error("the slot was not freed when the first connection ended")
	}
}

func TestCheckListenAddr(t *testing.T) {
	tests := []struct {
		addr   string
		remote bool
		want   error
	}{
		{"127.0.0.1:8081", false, nil},
		{"127.9.9.9:8081", false, nil},
		{"[::1]:8081", false, nil},
		{"localhost:8081", false, nil},
		{"[::ffff:127.0.0.1]:8081", false, nil},
		{"0.0.0.0:8081", false, ErrRemoteListen},
		{":8081", false, ErrRemoteListen},
		{"192.168.1.5:8081", false, ErrRemoteListen},
		{"example.com:8081", false, ErrRemoteListen},
		{"0.0.0.0:8081", true, nil},
		{"127.0.0.1", false, ErrBadAddr},
		{"", true, ErrBadAddr},
	}
	for _, tt := range tests {
		if err := CheckListenAddr(tt.addr, tt.remote); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("CheckListenAddr(%q, %v) = %v, want %v", tt.addr, tt.remote, err, tt.want)
		}
	}
}

// TestSpoolFilesRemoved: output over the in-memory limit goes through a
// temporary file on both sides, and neither is left behind.
func TestSpoolFilesRemoved(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	srv := startServer(t, nil)
	const size = memSpoolLimit + 1<<20
	out, rep, err := runOurs(t, &Client{Addr: srv.addr, HideHeader: true}, `head -c `+strconv.Itoa(size)+` /dev/zero | tr '\0' s`)
	if err != nil || len(out) != size || !rep.Verified {
		t.Fatalf("Run = %d bytes, verified %v, %v; want %d", len(out), rep.Verified, err, size)
	}
	left, err := os.ReadDir(tmp)
	if err != nil || len(left) != 0 {
		t.Errorf("TMPDIR holds %v (%v), want nothing", left, err)
	}
}

func TestSpoolMovesToFile(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	s := newSpool(8)
	for _, p := range []string{"12345", "67890", "abc"} {
		s.Write([]byte(p))
	}
	files, _ := os.ReadDir(tmp)
	got, _ := io.ReadAll(s.Reader())
	again, _ := io.ReadAll(s.Reader())
	if len(files) != 1 || string(got) != "1234567890abc" || string(again) != string(got) || s.Size() != 13 {
		t.Errorf("spool past its limit: %d files, read %q then %q, size %d", len(files), got, again, s.Size())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if files, _ := os.ReadDir(tmp); len(files) != 0 {
		t.Errorf("after Close: %v left", files)
	}
}
