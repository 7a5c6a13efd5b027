//go:build linux

package bench

import (
	"context"
	"io"
	"net"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/config"
	"github.com/rexec-dev/rexec/internal/jobs"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
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

// Bounds of BenchmarkDetachSpoolRSS.
const (
	// spoolBytes is what the detached job writes: the 1 GiB.
	spoolBytes = 1 << 30
	// maxDaemonRSS is the peak resident memory the daemon must stay
	// under while it spools it (docs/BENCHMARKS.md, "Detached jobs").
	maxDaemonRSS = 64 << 20
	// spoolTimeout bounds one job's run, however loaded the machine.
	spoolTimeout = 5 * time.Minute
)

// BenchmarkDetachSpoolRSS starts a real `rexec serve` built from this
// checkout (a 2 GiB job cap, so nothing is dropped), runs a detached job
// that writes 1 GiB to stdout, waits for its end, and reports the
// daemon's peak resident memory (VmHWM of /proc/PID/status) as
// MiB-peak-RSS; it fails when that passes 64 MiB. MB/s is the spool rate.
// Each run is a fresh daemon, so each peak is that run's.
//
//	go test -run '^$' -bench DetachSpoolRSS -benchtime 1x ./bench/
func BenchmarkDetachSpoolRSS(b *testing.B) {
	bin, err := rexectest.Build(b.TempDir(), rexectest.RexecPkg)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(spoolBytes)
	var peak int64
	for i := 0; i < b.N; i++ {
		peak = max(peak, spoolOnce(b, bin))
	}
	b.ReportMetric(float64(peak)/(1<<20), "MiB-peak-RSS")
	if peak > maxDaemonRSS {
		b.Errorf("daemon peak RSS %.1f MiB while spooling %d bytes, want under %d MiB", float64(peak)/(1<<20), spoolBytes, maxDaemonRSS>>20)
	}
}

// spoolOnce runs the 1 GiB job on a fresh daemon and returns the
// daemon's peak RSS in bytes.
func spoolOnce(b *testing.B, bin string) int64 {
	b.StopTimer()
	d := rexectest.StartDaemon(b, bin, rexectest.DaemonOptions{DiscardLogs: true, Args: []string{
		"--job-spool-max", strconv.Itoa(2 << 30), "--jobs-spool-total", strconv.Itoa(2 << 30)}})
	defer d.Stop(b)
	port, err := strconv.Atoi(d.Port())
	if err != nil {
		b.Fatal(err)
	}
	id, err := auth.LoadIdentity(filepath.Join(d.Home, config.IdentityFile))
	if err != nil {
		b.Fatal(err)
	}
	cfg := client.Config{Identity: id, KnownHosts: auth.KnownHosts{Path: filepath.Join(d.Home, config.KnownHostsFile)}}
	ctx, cancel := context.WithTimeout(context.Background(), spoolTimeout)
	defer cancel()
	c, err := client.Dial(ctx, cfg, client.Target{Host: "127.0.0.1", Port: port})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.StartTimer()
	job, res, err := c.Detach(ctx, protocol.Exec{Command: "head -c " + strconv.Itoa(spoolBytes) + " /dev/zero"})
	if err != nil || job == "" {
		b.Fatalf("detach: %v, %+v", err, res)
	}
	for {
		list, err := c.Jobs(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(list) != 1 {
			b.Fatalf("jobs: %+v, want the one", list)
		}
		if in := list[0]; in.State == protocol.JobEnded {
			if in.Outcome != "exited" || in.Stdout != spoolBytes {
				b.Fatalf("job ended %+v, want exited with %d bytes of stdout", in, spoolBytes)
			}
			break
		}
		select {
		case <-ctx.Done():
			b.Fatalf("job %s still running after %v", job, spoolTimeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
	b.StopTimer()
	hwm, ok := rexectest.Status(d.Cmd.Process.Pid, "VmHWM")
	if !ok {
		b.Fatal("no VmHWM in the daemon's /proc status")
	}
	return hwm << 10
}
