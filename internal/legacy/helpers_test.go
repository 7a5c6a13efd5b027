package legacy

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/rexectest"
)

// testTimeout bounds every wait in these tests.
const testTimeout = 30 * time.Second

// testServer is our Server on a loopback port, stopped at cleanup.
type testServer struct {
	addr string
	port string
	logs *rexectest.SyncBuffer
	stop func() error // cancels Serve and returns its result
}

// startServer serves srv (a new one when nil) on 127.0.0.1:0.
func startServer(t *testing.T, srv *Server) *testServer {
	t.Helper()
	if srv == nil {
		srv = &Server{}
	}
	logs := &rexectest.SyncBuffer{}
	srv.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case serveErr = <-done:
			case <-time.After(testTimeout):
				serveErr = errors.New("Serve did not return")
			}
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Serve() = %v, want nil", err)
		}
	})
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return &testServer{addr: ln.Addr().String(), port: port, logs: logs, stop: stop}
}

// runPython runs one of the lesson's programs against port with stdin,
// returning its stdout; stderr goes into the error.
func runPython(t *testing.T, port, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := pythonCmd(t, port, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		err = errors.Join(err, errors.New(errOut.String()))
	}
	return out.String(), err
}

// pythonCmd prepares python3 with args in the lesson's directory, talking
// to port, killed if it outlives testTimeout.
func pythonCmd(t *testing.T, port string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "python3", args...)
	cmd.Dir = rexectest.SeedDir(t)
	cmd.Env = append(os.Environ(), "SEED_PORT="+port, "PYTHONIOENCODING=utf-8")
	cmd.WaitDelay = time.Second
	return cmd
}

// startSeedServer runs the lesson's server.py on a free port until cleanup
// and returns its address and process.
func startSeedServer(t *testing.T) (string, *exec.Cmd) {
	t.Helper()
	port := rexectest.FreePort(t)
	cmd := exec.Command("python3", "server.py")
	cmd.Dir = rexectest.SeedDir(t)
	cmd.Env = append(os.Environ(), "SEED_PORT="+port)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := net.JoinHostPort("127.0.0.1", port)
	for range 200 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, cmd
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("server.py did not listen on %s", addr)
	return "", nil
}

// fakeServer accepts one connection on loopback and hands it to serve,
// closing it afterwards; cleanup waits for the goroutine.
func fakeServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(testTimeout))
		serve(c)
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// readCommand reads what a client sent, as the lesson's server does.
func readCommand(c net.Conn) string {
	buf := make([]byte, 1024)
	n, _ := c.Read(buf)
	return string(buf[:n])
}

// runOurs runs command on addr with our Client and returns the output.
func runOurs(t *testing.T, c *Client, command string) (string, Reply, error) {
	t.Helper()
	var out bytes.Buffer
	c.Stdout = &out
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	rep, err := c.Run(ctx, command)
	return out.String(), rep, err
}

func md5hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// waitFor polls cond every 20 ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}
