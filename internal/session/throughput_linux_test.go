package session

import (
	"io"
	"os"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// drain reads r to EOF with one buffer and returns the byte count.
func drain(r io.Reader, buf []byte) (int64, error) {
	var total int64
	for {
		n, err := r.Read(buf)
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// TestGigabyteOutput streams 1 GiB through the stdout pipe and checks that
// nothing along the way buffers it.
func TestGigabyteOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB of output in -short mode")
	}
	const size = 1 << 30
	p, err := Start(Spec{Argv: []string{"head", "-c", strconv.Itoa(size), "/dev/zero"}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeProcess(t, p)
	buf := make([]byte, 1<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n, err := drain(p.Stdout(), buf)
	runtime.ReadMemStats(&after)
	if n != size || err != nil {
		t.Fatalf("read %d bytes, %v; want %d, EOF", n, err, size)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("allocated %d bytes while streaming 1 GiB, want < 16 MiB", grew)
	}
	if st := p.Wait(); st != (Status{}) {
		t.Errorf("status = %v, want exit 0", st)
	}
}

func TestPipeSize(t *testing.T) {
	p, err := Start(Spec{Argv: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeProcess(t, p)
	var size int
	_ = control(p.sys.parent[1], func(fd int) error {
		size, err = unix.FcntlInt(uintptr(fd), unix.F_GETPIPE_SZ, 0)
		return err
	})
	if (err != nil || size != pipeSize) && os.Geteuid() == 0 {
		t.Errorf("stdout pipe size = %d, %v; want %d ", size, err, pipeSize)
	}
}

// BenchmarkStdoutThroughput reports the stdout pipe's MB/s.
func BenchmarkStdoutThroughput(b *testing.B) {
	const size = 256 << 20
	buf := make([]byte, 1<<20)
	b.SetBytes(size)
	for b.Loop() {
		p, err := Start(Spec{Argv: []string{"dd", "if=/dev/zero", "bs=1M", "count=" + strconv.Itoa(size>>20), "status=none"}})
		if err != nil {
			b.Fatal(err)
		}
		if n, err := drain(p.Stdout(), buf); n != size || err != nil {
			b.Fatalf("read %d, %v", n, err)
		}
		_ = p.Close()
	}
}
