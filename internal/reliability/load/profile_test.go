//go:build load && linux

package load

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
	"github.com/rexec-dev/rexec/internal/server"
)

// TestProfileConcurrentSessions is TestLoadConcurrentSessions against an
// in-process server, to explain its figures with profiles: with
// REXEC_LOAD_PROFILE=DIR it writes DIR/held.heap and DIR/held.goroutine
// while the sessions are held, and DIR/teardown.cpu from the moment every
// client goes until the server is idle. Without it, it is skipped.
func TestProfileConcurrentSessions(t *testing.T) {
	dir := os.Getenv("REXEC_LOAD_PROFILE")
	if dir == "" {
		t.Skip("set REXEC_LOAD_PROFILE=DIR to write profiles")
	}
	n := envInt("REXEC_LOAD_SESSIONS", 1000)
	// Every allocation sampled, so held.heap counts each session's
	// buffers exactly rather than one in 512 KiB.
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	cfg, target := inProcessServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var runs sync.WaitGroup
	rexectest.Parallel(n, dialers, func(i int) {
		c, err := client.Dial(ctx, cfg, target)
		if err != nil {
			t.Errorf("dial %d: %v", i, err)
			return
		}
		runs.Add(1)
		go func() {
			defer runs.Done()
			defer c.Close()
			_, _ = c.Run(ctx, protocol.Exec{Argv: []string{"sleep", "60"}}, client.IO{Stdout: io.Discard, Stderr: io.Discard})
		}()
	})
	self := os.Getpid()
	if !rexectest.Eventually(2*time.Minute, func() bool { return statsOf(self).children >= n }) {
		t.Fatalf("sessions not all running: %v", statsOf(self))
	}
	time.Sleep(2 * time.Second)
	runtime.GC()
	t.Logf("held: %v", statsOf(self))
	writeProfile(t, filepath.Join(dir, "held.heap"), "heap")
	writeProfile(t, filepath.Join(dir, "held.goroutine"), "goroutine")
	writeProfile(t, filepath.Join(dir, "held.threadcreate"), "threadcreate")

	f, err := os.Create(filepath.Join(dir, "teardown.cpu"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cancel()
	runs.Wait()
	rexectest.Eventually(2*time.Minute, func() bool { return statsOf(self).children == 0 })
	pprof.StopCPUProfile()
	t.Logf("teardown of %d sessions: %v; %v", n, time.Since(start).Round(time.Millisecond), statsOf(self))
}

func writeProfile(t *testing.T, path, name string) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
}

// inProcessServer serves on 127.0.0.1 from this process, until the test's
// cleanup, and returns a client configuration for it.
func inProcessServer(t *testing.T) (client.Config, client.Target) {
	dir := t.TempDir()
	host, _ := auth.GenerateIdentity("host")
	id, _ := auth.GenerateIdentity("client")
	keys := filepath.Join(dir, "authorized_keys")
	if _, err := auth.AppendAuthorizedKey(keys, id.Public, id.Comment); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{HostKey: host, AuthorizedKeysPath: keys})
	if err != nil {
		t.Fatal(err)
	}
	served := rexectest.ServeLoopback(t, srv.Serve, srv.Close, server.ErrServerClosed)
	target := client.Target{Host: "127.0.0.1", Port: served.Port()}
	known := auth.KnownHosts{Path: filepath.Join(dir, "known_hosts")}
	if err := known.Add([]string{target.Addr()}, host.Public); err != nil {
		t.Fatal(err)
	}
	return client.Config{Identity: id, KnownHosts: known}, target
}
