//go:build unix

package bench

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/transfer"
)

// cpBenchSize is the file BenchmarkFileTransfer copies per iteration: big
// enough that the per-file costs (open, fsync, rename) are noise beside
// the per-byte ones it is meant to show.
const cpBenchSize = 256 << 20

// BenchmarkFileTransfer is one file of cpBenchSize random bytes sent with
// transfer.SendFile and received with transfer.ReceiveFile into a
// transfer.Receiver, over protocol.Conn on TLS 1.3 on loopback TCP: the
// upload and download path of `rexec cp` without the processes, the
// command line and the request messages around it (bench/cp.sh measures
// those, against scp). Both ends run in this process, so beside MB/s it
// reports cpu-s/GiB, the CPU time of the process (user + system) per GiB
// moved: on a machine shared with other work that is steadier than the
// wall time, and it is what bounds the copy when both ends share the
// cores. The file lives in $CPBENCH_DIR (default /dev/shm, else the test's
// temporary directory), so by default the disk is out of the picture.
//
//	go test -run '^$' -bench FileTransfer -benchtime 8x ./bench/
func BenchmarkFileTransfer(b *testing.B) {
	dir := cpBenchDir(b)
	src := filepath.Join(dir, "src.bin")
	writeRandomFile(b, src, cpBenchSize)
	dst := filepath.Join(dir, "dst")
	if err := os.Mkdir(dst, 0o700); err != nil {
		b.Fatal(err)
	}
	p := newPair(b)
	errc := make(chan error, 1)
	n := b.N
	go func() { errc <- receiveFiles(p, dst, n) }()
	tc, err := p.dial()
	if err != nil {
		b.Fatal(err)
	}
	pc := protocol.NewConn(tc)
	defer pc.Close()
	b.SetBytes(cpBenchSize)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for range n {
		if err := sendOne(pc, src); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric((cpuTime(b)-cpu0).Seconds()/float64(n)*(1<<30)/cpBenchSize, "cpu-s/GiB")
}

func cpBenchDir(b *testing.B) string {
	base := os.Getenv("CPBENCH_DIR")
	if base == "" {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			base = "/dev/shm"
		}
	}
	if base == "" {
		return b.TempDir()
	}
	dir, err := os.MkdirTemp(base, "rexec-cpbench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func writeRandomFile(b *testing.B, name string, size int64) {
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		b.Fatal(err)
	}
}

// sendOne sends src as the entry "f.bin", as a client's put does after
// its header.
func sendOne(pc *protocol.Conn, src string) error {
	s, err := transfer.OpenSource(src)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := pc.Send(s.Entry("f.bin")); err != nil {
		return err
	}
	_, err = transfer.SendFile(pc, s, "f.bin", false, transfer.Hooks{})
	return err
}

// receiveFiles accepts one connection and receives n files into dst.
func receiveFiles(p *pair, dst string, n int) error {
	nc, err := p.ln.Accept()
	if err != nil {
		return err
	}
	pc := protocol.NewConn(tls.Server(nc, p.serverTLS))
	defer pc.Close()
	r, err := transfer.OpenReceiver(dst, "")
	if err != nil {
		return err
	}
	defer r.Close()
	for range n {
		m, err := pc.Recv()
		if err != nil {
			return err
		}
		e, ok := m.(protocol.Entry)
		if !ok {
			return errors.New("expected an entry, got " + m.Type())
		}
		open := func() (*transfer.Part, error) { return r.File(e) }
		if _, err := transfer.ReceiveFile(pc, e, false, open, transfer.Hooks{}); err != nil {
			return err
		}
	}
	return nil
}

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
