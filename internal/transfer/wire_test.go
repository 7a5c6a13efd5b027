package transfer

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/protocol"
)

var mtime = time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)

// setup makes a source file of n bytes in src/ and an old target in dst/.
func setup(t *testing.T, n int) (srcPath string, want []byte, r *Receiver, dst string) {
	t.Helper()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	for _, d := range []string{src, dst} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	srcPath = filepath.Join(src, "f")
	want = randomFile(t, srcPath, n, 1, mtime)
	if err := os.WriteFile(filepath.Join(dst, "f"), []byte("old content"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReceiver(dst, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return srcPath, want, r, dst
}

func checkTarget(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: digest %s (%d bytes), want %s (%d bytes)", path, Digest(got), len(got), Digest(want), len(want))
	}
}

func TestSendReceive(t *testing.T) {
	const n = 2*protocol.ChunkSize + 12345
	srcPath, want, r, dst := setup(t, n)
	if err := os.Chmod(srcPath, 0o4751); err != nil {
		t.Fatal(err)
	}
	send, recv := sendReceive(t, srcPath, r, "f", false, nil)
	if send.err != nil || recv.err != nil {
		t.Fatalf("send %v, receive %v; want both nil", send.err, recv.err)
	}
	if send.res.Bytes != n || recv.res.Bytes != n || recv.res.Offset != 0 {
		t.Errorf("results %+v / %+v, want %d bytes from offset 0", send.res, recv.res, n)
	}
	target := filepath.Join(dst, "f")
	checkTarget(t, target, want)
	fi, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o751 || !fi.ModTime().Equal(mtime) {
		t.Errorf("target mode %v mtime %v, want -rwxr-x--x (no setuid) and %v", fi.Mode(), fi.ModTime(), mtime)
	}
	if left := tempFiles(t, dst); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// writePart plants a partial file for f holding data, as an interrupted
// transfer of the source version (len(want), mtime) leaves it.
func writePart(t *testing.T, dst string, data []byte, total int) string {
	t.Helper()
	p := filepath.Join(dst, PartName("f", int64(total), mtime.UnixNano()))
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResume(t *testing.T) {
	const n = 3*protocol.ChunkSize + 999
	tests := []struct {
		name       string
		have       int   // bytes of the partial file
		flip       int   // offset of a flipped byte, or -1
		wantOffset int64 // where the data resumes
	}{
		{"whole chunks and a tail", 2*protocol.ChunkSize + 100, -1, 2*protocol.ChunkSize + 100},
		{"flipped byte in chunk 1", 2*protocol.ChunkSize + 100, protocol.ChunkSize + 7, protocol.ChunkSize},
		{"flipped byte in chunk 0", 2 * protocol.ChunkSize, 0, 0},
		{"flipped byte in the tail", 2*protocol.ChunkSize + 100, 2*protocol.ChunkSize + 50, 2 * protocol.ChunkSize},
		{"empty partial", 0, -1, 0},
		{"complete partial", n, -1, n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srcPath, want, r, dst := setup(t, n)
			part := bytes.Clone(want[:tt.have])
			if tt.flip >= 0 {
				part[tt.flip] ^= 0x40
			}
			writePart(t, dst, part, n)
			send, recv := sendReceive(t, srcPath, r, "f", true, nil)
			if send.err != nil || recv.err != nil {
				t.Fatalf("send %v, receive %v; want both nil", send.err, recv.err)
			}
			if recv.res.Offset != tt.wantOffset || recv.res.Bytes != n-tt.wantOffset {
				t.Errorf("resumed at %d sending %d bytes, want %d and %d", recv.res.Offset, recv.res.Bytes,
					tt.wantOffset, n-tt.wantOffset)
			}
			checkTarget(t, filepath.Join(dst, "f"), want)
			if left := tempFiles(t, dst); len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

func TestResumeWithoutResumeStartsOver(t *testing.T) {
	const n = protocol.ChunkSize + 10
	srcPath, want, r, dst := setup(t, n)
	writePart(t, dst, want[:n/2], n)
	_, recv := sendReceive(t, srcPath, r, "f", false, nil)
	if recv.err != nil || recv.res.Offset != 0 || recv.res.Bytes != n {
		t.Fatalf("receive = %+v, %v; want the whole file from 0", recv.res, recv.err)
	}
	checkTarget(t, filepath.Join(dst, "f"), want)
}

func TestIntegrityFailureKeepsOldTarget(t *testing.T) {
	srcPath, _, r, dst := setup(t, 3<<20)
	var frames atomic.Int32
	send, recv := sendReceive(t, srcPath, r, "f", false, func(sw, _ *chanWire) {
		sw.tamper = func(b []byte) {
			if frames.Add(1) == 2 {
				b[100] ^= 1
			}
		}
	})
	var fe *FileError
	if !errors.As(recv.err, &fe) || fe.Code != protocol.CodeIntegrity || !errors.Is(recv.err, ErrIntegrity) {
		t.Fatalf("receive error = %v, want a FileError with code integrity", recv.err)
	}
	if send.err != nil {
		t.Errorf("sender error = %v, want nil (it cannot know)", send.err)
	}
	checkTarget(t, filepath.Join(dst, "f"), []byte("old content"))
	if left := tempFiles(t, dst); len(left) != 0 {
		t.Errorf("a tampered partial file was kept: %v", left)
	}
}

func TestSourceChanged(t *testing.T) {
	srcPath, _, r, dst := setup(t, 3<<20)
	var frames atomic.Int32
	send, recv := sendReceive(t, srcPath, r, "f", false, func(sw, _ *chanWire) {
		sw.tamper = func([]byte) {
			if frames.Add(1) == 1 { // the writer appends while we read
				f, err := os.OpenFile(srcPath, os.O_WRONLY|os.O_APPEND, 0)
				if err == nil {
					f.Write([]byte("more"))
					f.Close()
				}
			}
		}
	})
	for side, err := range map[string]error{"sender": send.err, "receiver": recv.err} {
		var fe *FileError
		if !errors.As(err, &fe) || fe.Code != protocol.CodeChanged {
			t.Errorf("%s error = %v, want a FileError with code changed", side, err)
		}
	}
	checkTarget(t, filepath.Join(dst, "f"), []byte("old content"))
	if left := tempFiles(t, dst); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestConnectionLostKeepsPartialForResume(t *testing.T) {
	const n = 5 * protocol.ChunkSize
	srcPath, want, r, dst := setup(t, n)
	var frames atomic.Int32
	_, recv := sendReceive(t, srcPath, r, "f", false, func(sw, _ *chanWire) {
		sw.tamper = func([]byte) {
			if frames.Add(1) == 11 {
				sw.drop() // the connection drops after 10 MiB
			}
		}
	})
	var fe *FileError
	if recv.err == nil || errors.As(recv.err, &fe) {
		t.Fatalf("receive error = %v, want a lost connection", recv.err)
	}
	checkTarget(t, filepath.Join(dst, "f"), []byte("old content"))
	if left := tempFiles(t, dst); len(left) != 1 {
		t.Fatalf("partial files = %v, want one kept for resume", left)
	}
	_, recv = sendReceive(t, srcPath, r, "f", true, nil)
	if recv.err != nil || recv.res.Offset < 2*protocol.ChunkSize {
		t.Fatalf("resume = %+v, %v; want success from at least 8 MiB", recv.res, recv.err)
	}
	checkTarget(t, filepath.Join(dst, "f"), want)
}

func TestPartInUse(t *testing.T) {
	_, _, r, _ := setup(t, 10)
	e := protocol.Entry{Name: "f", Kind: protocol.KindFile, Length: 10, MtimeNS: 1}
	p1, err := r.File(e)
	if err != nil {
		t.Fatal(err)
	}
	defer p1.Abort(false)
	if _, err := r.File(e); !errors.Is(err, ErrInUse) {
		t.Errorf("second File of the same version = %v, want ErrInUse", err)
	}
}
