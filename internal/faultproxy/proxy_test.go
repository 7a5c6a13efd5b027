package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitFor bounds every wait of these tests.
const waitFor = 10 * time.Second

// echoServer echoes every connection on 127.0.0.1 and passes the client's
// half-close back. It counts connections and stops at test cleanup.
type echoServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{ln: ln}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.conns = append(e.conns, c)
			e.mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				_, _ = io.Copy(c, c)
				_ = c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		e.mu.Lock()
		for _, c := range e.conns {
			c.Close()
		}
		e.mu.Unlock()
		e.wg.Wait()
	})
	return e
}

func (e *echoServer) accepted() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.conns)
}

// startProxy starts a proxy to e with one plan for every connection.
func startProxy(t *testing.T, target string, plan Plan) *Proxy {
	t.Helper()
	p, err := Listen(target, func(int) Plan { return plan })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return p
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// exchange writes in, half-closes, and reads until EOF or a timeout of
// quiet; it reports what came back and how the read ended.
func exchange(t *testing.T, c *net.TCPConn, in []byte, quiet time.Duration) (got []byte, eof bool) {
	t.Helper()
	go func() {
		_, _ = c.Write(in)
		_ = c.CloseWrite()
	}()
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for {
		_ = c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.Bytes(), !errors.Is(err, os.ErrDeadlineExceeded)
		}
	}
}

func payload(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

func flipped(b []byte, at int, bit uint8) []byte {
	b = bytes.Clone(b)
	b[at] ^= 1 << bit
	return b
}

// swapped is b with [at, at+n) and [at+n, at+2n) exchanged.
func swapped(b []byte, at, n int) []byte {
	return slices.Concat(b[:at], b[at+n:at+2*n], b[at:at+n], b[at+2*n:])
}

func TestFaults(t *testing.T) {
	in := payload(100_000)
	tests := []struct {
		name  string
		plan  Plan
		want  []byte
		eof   bool // the client saw the end of the stream (not silence)
		fired int
	}{
		// With a Cut, the client may get less than what was forwarded:
		// closing a socket that holds unread input resets the connection.
		{"faithful", Plan{}, in, true, 0},
		{"flip up first byte", Plan{Faults: []Fault{{Kind: Flip, Dir: Up, At: 0, Bit: 0}}}, flipped(in, 0, 0), true, 1},
		{"flip down mid stream", Plan{Faults: []Fault{{Kind: Flip, Dir: Down, At: 70_001, Bit: 7}}}, flipped(in, 70_001, 7), true, 1},
		{"flip both ways cancels", Plan{Faults: []Fault{{Kind: Flip, Dir: Up, At: 5, Bit: 3}, {Kind: Flip, Dir: Down, At: 5, Bit: 3}}}, in, true, 2},
		{"flip past the end", Plan{Faults: []Fault{{Kind: Flip, Dir: Up, At: 100_000, Bit: 1}}}, in, true, 0},
		{"cut up", Plan{Faults: []Fault{{Kind: Cut, Dir: Up, At: 40_000}}}, in[:40_000], true, 1},
		{"cut down", Plan{Faults: []Fault{{Kind: Cut, Dir: Down, At: 12_345}}}, in[:12_345], true, 1},
		{"cut at 0", Plan{Faults: []Fault{{Kind: Cut, Dir: Down, At: 0}}}, nil, true, 1},
		{"smallest cut wins", Plan{Faults: []Fault{{Kind: Cut, Dir: Up, At: 900}, {Kind: Cut, Dir: Up, At: 300}}}, in[:300], true, 1},
		{"truncate up", Plan{Faults: []Fault{{Kind: Truncate, Dir: Up, At: 1000}}}, in[:1000], false, 1},
		{"truncate down at 0", Plan{Faults: []Fault{{Kind: Truncate, Dir: Down, At: 0}}}, nil, false, 1},
		{"reorder up", Plan{Faults: []Fault{{Kind: Reorder, Dir: Up, At: 10, Len: 5}}}, swapped(in, 10, 5), true, 1},
		{"reorder down across chunks", Plan{Faults: []Fault{{Kind: Reorder, Dir: Down, At: 30_000, Len: 20_000}}}, swapped(in, 30_000, 20_000), true, 1},
		{"reorder at the end", Plan{Faults: []Fault{{Kind: Reorder, Dir: Up, At: 99_990, Len: 5}}}, swapped(in, 99_990, 5), true, 1},
		{"reorder cut short by EOF", Plan{Faults: []Fault{{Kind: Reorder, Dir: Up, At: 99_995, Len: 4}, {Kind: Cut, Dir: Down, At: 99_999}}},
			slices.Concat(in[:99_995], in[99_999:], in[99_995:99_999])[:99_999], true, 2},
		{"flip and cut", Plan{Faults: []Fault{{Kind: Flip, Dir: Up, At: 2, Bit: 6}, {Kind: Cut, Dir: Down, At: 3}}}, flipped(in, 2, 6)[:3], true, 2},
		{"delay", Plan{Faults: []Fault{{Kind: Delay, Dir: Down, Wait: time.Millisecond}}}, in, true, 1},
	}
	e := startEcho(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, e.ln.Addr().String(), tt.plan)
			c := dial(t, p.Addr())
			got, eof := exchange(t, c, in, 500*time.Millisecond)
			cut := cutOf(tt.plan)
			if cut != nil {
				if !bytes.HasPrefix(tt.want, got) {
					t.Errorf("echo through %+v: got %d bytes, not a prefix of the %d wanted (first difference at %d)",
						tt.plan, len(got), len(tt.want), firstDiff(got, tt.want))
				}
			} else if !bytes.Equal(got, tt.want) {
				t.Errorf("echo through %+v: got %d bytes (first difference at %d), want %d",
					tt.plan, len(got), firstDiff(got, tt.want), len(tt.want))
			}
			if eof != tt.eof {
				t.Errorf("echo through %+v: saw end of stream = %v, want %v", tt.plan, eof, tt.eof)
			}
			c.Close()
			links := p.Links()
			if len(links) != 1 {
				t.Fatalf("Links() = %d links, want 1", len(links))
			}
			if err := p.Close(); err != nil {
				t.Errorf("Close() = %v", err)
			}
			l := links[0]
			if fired := l.Fired(); len(fired) != tt.fired {
				t.Errorf("Fired() = %v, want %d faults", fired, tt.fired)
			}
			if cut != nil && l.Written(cut.Dir) != cut.At {
				t.Errorf("Written(%s) = %d, want the cut's %d", cut.Dir, l.Written(cut.Dir), cut.At)
			}
			if l.Read(Up) != int64(len(in)) && tt.plan.Faults == nil {
				t.Errorf("Read(Up) = %d, want %d", l.Read(Up), len(in))
			}
			select {
			case <-l.Done():
			default:
				t.Errorf("link not done after Close")
			}
		})
	}
}

// cutOf returns the plan's effective Cut, or nil.
func cutOf(p Plan) *Fault {
	var cut *Fault
	for _, f := range p.Faults {
		if f.Kind == Cut && (cut == nil || f.At < cut.At) {
			cut = &f
		}
	}
	return cut
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestReorderStall checks that a reorder whose second segment never comes
// forwards what it held once the sender is quiet, instead of stalling.
func TestReorderStall(t *testing.T) {
	e := startEcho(t)
	tests := []struct {
		name string
		sent int
		want []byte
	}{
		{"first segment incomplete", 12, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{"second segment incomplete", 17, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 10, 11, 12, 13, 14}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, e.ln.Addr().String(), Plan{Faults: []Fault{{Kind: Reorder, Dir: Up, At: 10, Len: 5, Wait: 50 * time.Millisecond}}})
			c := dial(t, p.Addr())
			in := make([]byte, tt.sent)
			for i := range in {
				in[i] = byte(i)
			}
			if _, err := c.Write(in); err != nil { // no half-close: the sender just waits
				t.Fatal(err)
			}
			got := make([]byte, len(tt.want))
			_ = c.SetReadDeadline(time.Now().Add(waitFor))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatalf("reading the echo: %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("echo = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDrop(t *testing.T) {
	e := startEcho(t)
	p := startProxy(t, e.ln.Addr().String(), Plan{Drop: true})
	c := dial(t, p.Addr())
	got, eof := exchange(t, c, []byte("hello"), waitFor)
	if len(got) != 0 || !eof {
		t.Errorf("through a dropping proxy: got %q, eof %v; want nothing and eof", got, eof)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if n := e.accepted(); n != 0 {
		t.Errorf("target accepted %d connections, want 0", n)
	}
}

// TestTruncateKeepsOpen checks that a truncated direction is silent but
// open, while the other direction still works.
func TestTruncateKeepsOpen(t *testing.T) {
	e := startEcho(t)
	p := startProxy(t, e.ln.Addr().String(), Plan{Faults: []Fault{{Kind: Truncate, Dir: Down, At: 3}}})
	c := dial(t, p.Addr())
	for i := range 3 {
		if _, err := c.Write([]byte("abcd")); err != nil {
			t.Fatalf("write %d after truncation: %v", i, err)
		}
	}
	got := make([]byte, 3)
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "abc" {
		t.Fatalf("read = %q, %v; want \"abc\"", got, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(got); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after truncation = %d, %v; want a timeout", n, err)
	}
	l := p.Links()[0]
	if !waitUntil(func() bool { return l.Read(Up) == 12 && l.Written(Up) == 12 && l.Read(Down) == 12 }) {
		t.Errorf("up read %d written %d, down read %d; want 12 each", l.Read(Up), l.Written(Up), l.Read(Down))
	}
	if l.Written(Down) != 3 {
		t.Errorf("Written(Down) = %d, want 3", l.Written(Down))
	}
}

func waitUntil(cond func() bool) bool {
	for deadline := time.Now().Add(waitFor); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}

// TestDelay checks that latency is added per chunk in one direction.
func TestDelay(t *testing.T) {
	e := startEcho(t)
	const d = 80 * time.Millisecond
	p := startProxy(t, e.ln.Addr().String(), Plan{Faults: []Fault{{Kind: Delay, Dir: Up, Wait: d}}})
	c := dial(t, p.Addr())
	start := time.Now()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(start); rtt < d {
		t.Errorf("round trip %v through a %v delay, want at least the delay", rtt, d)
	}
}

// TestPlanPerConnection checks that each connection gets its own plan.
func TestPlanPerConnection(t *testing.T) {
	e := startEcho(t)
	p, err := Listen(e.ln.Addr().String(), func(n int) Plan {
		return Plan{Faults: []Fault{{Kind: Cut, Dir: Down, At: int64(n + 1)}}}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for n := range 3 {
		c := dial(t, p.Addr())
		got, _ := exchange(t, c, []byte("abcdef"), waitFor)
		if want := "abcdef"[:n+1]; string(got) != want {
			t.Errorf("connection %d: got %q, want %q", n, got, want)
		}
	}
}

func TestBadPlan(t *testing.T) {
	e := startEcho(t)
	tests := []Fault{
		{Kind: Flip, Dir: Up, Bit: 8},
		{Kind: Reorder, Dir: Up, At: 1},
		{Kind: Cut, Dir: 2},
		{Kind: Cut, Dir: Up, At: -1},
		{Kind: 99},
	}
	for _, f := range tests {
		p := startProxy(t, e.ln.Addr().String(), Plan{Faults: []Fault{f}})
		c := dial(t, p.Addr())
		got, eof := exchange(t, c, []byte("x"), waitFor)
		if len(got) != 0 || !eof {
			t.Errorf("plan %v: got %q, eof %v; want the connection closed", f, got, eof)
		}
		p.Close()
		if err := p.Links()[0].Err(); err == nil {
			t.Errorf("plan %v: Link.Err() = nil, want an error", f)
		}
	}
}

// TestRecord checks that Record keeps what was sent, before the faults,
// and what was forwarded, after them.
func TestRecord(t *testing.T) {
	tests := []struct {
		name      string
		faults    []Fault
		forwarded string // up, and so echoed and sent down
	}{
		{"faithful", nil, "hello"},
		{"flip", []Fault{{Kind: Flip, Dir: Up, At: 1, Bit: 2}}, "hallo"},
		{"reorder", []Fault{{Kind: Reorder, Dir: Up, At: 1, Len: 2}}, "hloel"},
		{"reorder of equal segments", []Fault{{Kind: Reorder, Dir: Up, At: 2, Len: 1}}, "hello"},
	}
	e := startEcho(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, e.ln.Addr().String(), Plan{Record: true, Faults: tt.faults})
			c := dial(t, p.Addr())
			got, _ := exchange(t, c, []byte("hello"), waitFor)
			if string(got) != tt.forwarded {
				t.Errorf("echo = %q, want %q", got, tt.forwarded)
			}
			c.Close()
			l := p.Links()[0]
			<-l.Done()
			if up, down := l.Recorded(Up), l.Recorded(Down); string(up) != "hello" || string(down) != tt.forwarded {
				t.Errorf("Recorded = %q up, %q down; want \"hello\", %q", up, down, tt.forwarded)
			}
			if up, down := l.Forwarded(Up), l.Forwarded(Down); string(up) != tt.forwarded || string(down) != tt.forwarded {
				t.Errorf("Forwarded = %q up, %q down; want %q both", up, down, tt.forwarded)
			}
		})
	}
}

// TestCloseWithOpenLinks checks that Close ends links that would otherwise
// wait forever (a truncation, a long delay) and returns promptly.
func TestCloseWithOpenLinks(t *testing.T) {
	e := startEcho(t)
	p, err := Listen(e.ln.Addr().String(), func(n int) Plan {
		if n == 0 {
			return Plan{Faults: []Fault{{Kind: Truncate, Dir: Up, At: 0}}}
		}
		return Plan{Faults: []Fault{{Kind: Delay, Dir: Up, Wait: time.Hour}}}
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c := dial(t, p.Addr())
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(func() bool { return len(p.Links()) == 2 })
	start := time.Now()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	for _, l := range p.Links() {
		<-l.Done()
	}
}
