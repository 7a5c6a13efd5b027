package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// listen opens a unixgram socket at addr, as systemd does, and returns a
// function that reads the next datagram.
func listen(t *testing.T, addr string) func() string {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Skipf("unixgram sockets unavailable: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return func() string {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("reading the notification: %v", err)
		}
		return string(buf[:n])
	}
}

func TestNotifyPathSocket(t *testing.T) {
	addr := filepath.Join(t.TempDir(), "notify.sock")
	next := listen(t, addr)
	t.Setenv(SocketEnv, addr)
	for _, state := range []string{Ready, Reloading + "\nMONOTONIC_USEC=123", Stopping} {
		if err := Notify(state); err != nil {
			t.Fatalf("Notify(%q) = %v", state, err)
		}
		if got := next(); got != state {
			t.Errorf("received %q, want %q", got, state)
		}
	}
	if err := Status("draining\n3 sessions"); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "STATUS=draining 3 sessions" {
		t.Errorf("Status sent %q", got)
	}
}

func TestNotifyAbstractSocket(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("abstract sockets are Linux")
	}
	addr := fmt.Sprintf("@rexec-sdnotify-test-%d", os.Getpid())
	next := listen(t, addr)
	t.Setenv(SocketEnv, addr)
	if err := Notify(Ready); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != Ready {
		t.Errorf("received %q, want %q", got, Ready)
	}
}

func TestNotifyUnsetIsNoop(t *testing.T) {
	t.Setenv(SocketEnv, "")
	if err := Notify(Ready); err != nil {
		t.Fatalf("Notify without NOTIFY_SOCKET = %v, want nil", err)
	}
}

func TestNotifyErrors(t *testing.T) {
	t.Setenv(SocketEnv, "relative.sock")
	if err := Notify(Ready); !errors.Is(err, ErrBadSocket) {
		t.Errorf("relative path: %v, want ErrBadSocket", err)
	}
	t.Setenv(SocketEnv, filepath.Join(t.TempDir(), "nobody-listens.sock"))
	if err := Notify(Ready); err == nil {
		t.Error("socket without a listener: nil error")
	}
}
