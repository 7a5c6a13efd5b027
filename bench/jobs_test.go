//go:build linux

package bench

import (
	"context"
	"io"
	"net"
	"os/user"
	"path/filepath"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/jobs"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/server"
)

// replayBytes is the spool BenchmarkAttachReplay reads back: the size
// the issue names (docs/BENCHMARKS.md, "Detached jobs").
const replayBytes = 1 << 30

// BenchmarkAttachReplay measures `rexec attach` of a finished job whose
// spool holds 1 GiB of stdout: a real server and client on loopback, TLS
// and framing included, output discarded. MB/s is the replay rate;
// cpu-s/GiB the CPU time of this process (both ends, user and system)
// per GiB replayed, which is steadier than MB/s on a shared machine.
func BenchmarkAttachReplay(b *testing.B) {
	dir := b.TempDir()
	host, _ := auth.GenerateIdentity("host")
	id, _ := auth.GenerateIdentity("user")
	keys := filepath.Join(dir, "authorized_keys")
	if _, err := auth.AppendAuthorizedKey(keys, id.Public, id.Comment); err != nil {
		b.Fatal(err)
	}
	store, err := jobs.Open(jobs.Config{Dir: filepath.Join(dir, "jobs"), JobMax: replayBytes + 1<<20, TotalMax: 2 << 30})
	if err != nil {
		b.Fatal(err)
	}
	me, _ := user.Current()
	job, err := store.Create(jobs.Owner{Key: auth.Fingerprint(id.Public), Account: me.Username}, "bench", "bench")
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	for n := 0; n < replayBytes; n += len(chunk) {
		if err := job.Write(jobs.Stdout, chunk); err != nil {
			b.Fatal(err)
		}
	}
	if err := job.Finish(jobs.End{Outcome: "exited"}); err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(server.Config{HostKey: host, AuthorizedKeysPath: keys, Jobs: store})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	defer func() { srv.Close(); <-served }()
	port := ln.Addr().(*net.TCPAddr).Port
	t := client.Target{Host: "127.0.0.1", Port: port}
	known := auth.KnownHosts{Path: filepath.Join(dir, "known_hosts")}
	if err := known.Add([]string{t.Addr()}, host.Public); err != nil {
		b.Fatal(err)
	}
	cfg := client.Config{Identity: id, KnownHosts: known}
	// The spool is written once; the sub-benchmark's runs replay it.
	b.Run("1GiB", func(b *testing.B) { replay(b, cfg, t, job.ID()) })
}

// replay attaches to job b.N times and reads its whole spool.
func replay(b *testing.B, cfg client.Config, t client.Target, job string) {
	b.SetBytes(replayBytes)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		c, err := client.Dial(ctx, cfg, t)
		if err != nil {
			b.Fatal(err)
		}
		n := &countWriter{}
		if _, err := c.Attach(ctx, protocol.Attach{ID: job}, client.AttachIO{Stdout: n, Stderr: io.Discard}); err != nil {
			b.Fatal(err)
		}
		c.Close()
		cancel()
		if n.n != replayBytes {
			b.Fatalf("replayed %d bytes, want %d", n.n, replayBytes)
		}
	}
	b.StopTimer()
	b.ReportMetric((cpuTime(b)-cpu0).Seconds()/float64(b.N)*float64(1<<30)/replayBytes, "cpu-s/GiB")
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }
