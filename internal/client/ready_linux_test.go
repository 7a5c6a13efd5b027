package client

import (
	"bytes"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestReadReady: what a pipe holds is taken without waiting, a pipe with
// nothing ready is left at once (never a blocking read, or an
// interactive line would wait for the next), and other readers are left
// alone.
func TestReadReady(t *testing.T) {
	// A blocking pipe, as a shell gives a program its stdin (os.Pipe's
	// would be non-blocking and hide a read that waits).
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r, w := os.NewFile(uintptr(fds[0]), "r"), os.NewFile(uintptr(fds[1]), "w")
	defer r.Close()
	defer w.Close()
	for range 10 {
		w.Write(bytes.Repeat([]byte("x"), 1000))
	}
	buf := make([]byte, 64<<10)
	n, err := r.Read(buf[:1000])
	if err != nil || n != 1000 {
		t.Fatalf("first read %d, %v", n, err)
	}
	// ready runs readReady, failing (and unblocking it) if it waits.
	ready := func(n int) int {
		t.Helper()
		done := make(chan int, 1)
		go func() {
			n, _ := readReady(r, buf, n)
			done <- n
		}()
		select {
		case n := <-done:
			return n
		case <-time.After(10 * time.Second):
			w.Write(make([]byte, len(buf)))
			t.Fatal("readReady waited on an empty pipe")
			return 0
		}
	}
	if n = ready(n); n != 10000 {
		t.Fatalf("readReady = %d; want all 10000 bytes written", n)
	}
	if n := ready(5); n != 5 {
		t.Fatalf("readReady with nothing ready = %d, want 5", n)
	}
	if n, err := readReady(bytes.NewReader([]byte("more")), buf, 3); n != 3 || err != nil {
		t.Fatalf("readReady of a bytes.Reader = %d, %v; want it left alone", n, err)
	}
}
