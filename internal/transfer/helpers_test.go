package transfer

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rexec-dev/rexec/internal/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// errWireClosed is what a closed test wire returns, like a lost connection.
var errWireClosed = errors.New("test wire closed")

// chanWire is one end of an in-memory Wire pair. Data bodies are copied
// on Send, as a real connection would.
type chanWire struct {
	in   <-chan protocol.Message
	out  chan<- protocol.Message
	done chan struct{} // closed (by drop) to simulate a lost connection
	once *sync.Once
	// tamper, when set, may change a file_data body in flight.
	tamper func(body []byte)
}

func wirePair() (*chanWire, *chanWire) {
	a, b := make(chan protocol.Message, 64), make(chan protocol.Message, 64)
	done, once := make(chan struct{}), &sync.Once{}
	return &chanWire{in: a, out: b, done: done, once: once}, &chanWire{in: b, out: a, done: done, once: once}
}

// drop breaks the connection between the pair.
func (w *chanWire) drop() { w.once.Do(func() { close(w.done) }) }

func (w *chanWire) Send(m protocol.Message) error {
	if d, ok := m.(protocol.Data); ok {
		d.Body = bytes.Clone(d.Body)
		if w.tamper != nil && d.Stream == protocol.TypeFileData {
			w.tamper(d.Body)
		}
		m = d
	}
	select {
	case w.out <- m:
		return nil
	case <-w.done:
		return errWireClosed
	}
}

// Recv returns what was sent before the connection dropped before it
// reports the drop, as a real connection delivers the bytes sent before
// it closed.
func (w *chanWire) Recv() (protocol.Message, error) {
	select {
	case m := <-w.in:
		return m, nil
	default:
	}
	select {
	case m := <-w.in:
		return m, nil
	case <-w.done:
		return nil, errWireClosed
	}
}

// randomFile writes n seeded random bytes to path with the given mtime.
func randomFile(t *testing.T, path string, n int, seed uint64, mtime time.Time) []byte {
	t.Helper()
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return b
}

// sendReceive runs SendFile of local as name against ReceiveFile into r
// and returns both sides' results.
type sideResult struct {
	res Result
	err error
}

func sendReceive(t *testing.T, local string, r *Receiver, name string, resume bool,
	tweak func(sw, rw *chanWire)) (send, recv sideResult) {
	t.Helper()
	sw, rw := wirePair()
	if tweak != nil {
		tweak(sw, rw)
	}
	src, err := OpenSource(local)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	e := src.Entry(name)
	done := make(chan sideResult, 1)
	go func() {
		res, err := SendFile(sw, src, name, resume, Hooks{})
		done <- sideResult{res, err}
	}()
	res, err := ReceiveFile(rw, e, resume, func() (*Part, error) { return r.File(e) }, Hooks{})
	recv = sideResult{res, err}
	if err != nil {
		rw.drop() // unblock a sender still streaming
	}
	send = <-done
	return send, recv
}

// tempFiles lists our temporary files left anywhere under dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && isTempName(d.Name()) {
			found = append(found, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
