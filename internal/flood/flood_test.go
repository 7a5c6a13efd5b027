package flood

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServer is a loopback listener whose connections are handled by
// handle, each in its own goroutine; Close waits for them.
type testServer struct {
	ln net.Listener
	wg sync.WaitGroup
}

func startServer(t *testing.T, handle func(net.Conn)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{ln: ln}
	s.wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { defer nc.Close(); handle(nc) })
		}
	})
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *testServer) addr() string { return s.ln.Addr().String() }

// report decodes a run's output.
func report(t *testing.T, out []byte) []any {
	t.Helper()
	var lines []any
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		v, err := Decode(sc.Bytes())
		if err != nil {
			t.Fatalf("Decode(%s) = %v", sc.Text(), err)
		}
		lines = append(lines, v)
	}
	return lines
}

func closedLines(lines []any) []Closed {
	var cs []Closed
	for _, l := range lines {
		if c, ok := l.(Closed); ok {
			cs = append(cs, c)
		}
	}
	return cs
}

func TestRunServerClosesAfterDelay(t *testing.T) {
	const delay = 150 * time.Millisecond
	s := startServer(t, func(nc net.Conn) { time.Sleep(delay) })
	var out bytes.Buffer
	cfg := Config{Addr: s.addr(), From: netip.MustParseAddr("127.0.0.1"), Conns: 20, Hold: 10 * time.Second}
	start := time.Now()
	sum, err := Run(context.Background(), cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run took %v; want it to end once the server closed every connection", took)
	}
	if sum.Connected != 20 || sum.ClosedByServer != 20 || sum.StillOpen != 0 || sum.DialFailed != 0 {
		t.Errorf("summary = %+v; want 20 connected, 20 closed by server, none open", sum)
	}
	if sum.CloseMinMS < 100 || sum.CloseMaxMS > 2000 || sum.CloseP99MS > sum.CloseMaxMS {
		t.Errorf("close times min %v p99 %v max %v ms; want about %v", sum.CloseMinMS, sum.CloseP99MS, sum.CloseMaxMS, delay)
	}
	lines := report(t, out.Bytes())
	if _, ok := lines[0].(Start); !ok {
		t.Errorf("first line %#v, want Start", lines[0])
	}
	if _, ok := lines[1].(Connected); !ok {
		t.Errorf("second line %#v, want Connected", lines[1])
	}
	if got, ok := lines[len(lines)-1].(Summary); !ok || got.ClosedByServer != sum.ClosedByServer {
		t.Errorf("last line %#v, want the Summary Run returned", lines[len(lines)-1])
	}
	if n := len(closedLines(lines)); n != 20 {
		t.Errorf("%d Closed lines, want 20", n)
	}
}

func TestRunHoldEndsRun(t *testing.T) {
	s := startServer(t, func(nc net.Conn) { _, _ = io.Copy(io.Discard, nc) })
	var out bytes.Buffer
	start := time.Now()
	sum, err := Run(context.Background(), Config{Addr: s.addr(), Conns: 10, Hold: 300 * time.Millisecond}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("Run took %v; want about the hold, 300ms", took)
	}
	if sum.Connected != 10 || sum.StillOpen != 10 || sum.ClosedByServer != 0 {
		t.Errorf("summary = %+v; want 10 connected and still open, none closed by server", sum)
	}
}

func TestDripSendsTLSHeaderByteByByte(t *testing.T) {
	got := make(chan []byte, 1)
	s := startServer(t, func(nc net.Conn) {
		var seen []byte
		var reads int
		buf := make([]byte, 64)
		for len(seen) < 7 {
			n, err := nc.Read(buf)
			if err != nil {
				break
			}
			seen, reads = append(seen, buf[:n]...), reads+1
		}
		if reads < 2 {
			seen = nil // arrived at once: not a drip
		}
		got <- seen
	})
	var out bytes.Buffer
	cfg := Config{Addr: s.addr(), Conns: 1, Mode: Drip, DripEvery: 20 * time.Millisecond, Hold: 10 * time.Second}
	sum, err := Run(context.Background(), cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, dripPayload...), 0, 0)
	if b := <-got; !bytes.Equal(b, want) {
		t.Errorf("server read %x in one piece or wrong; want %x a byte at a time", b, want)
	}
	cs := closedLines(report(t, out.Bytes()))
	// The server closed after the 7th byte; the drip may count it only
	// after the close is reported.
	if sum.ClosedByServer != 1 || len(cs) != 1 || cs[0].Sent < 6 {
		t.Errorf("summary %+v, closed %+v; want one connection closed by the server after 6 or 7 bytes", sum, cs)
	}
}

func TestGarbageIsNotTLS(t *testing.T) {
	got := make(chan string, 1)
	s := startServer(t, func(nc net.Conn) {
		b, _ := bufio.NewReader(nc).ReadString('\n')
		got <- b
	})
	var out bytes.Buffer
	if _, err := Run(context.Background(), Config{Addr: s.addr(), Conns: 1, Mode: Garbage, Hold: 10 * time.Second}, &out); err != nil {
		t.Fatal(err)
	}
	if b := <-got; b == "" || b[0] == dripPayload[0] {
		t.Errorf("garbage starts %q; want something that is not a TLS handshake record", b)
	}
}

func TestDialErrorsCounted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out bytes.Buffer
	sum, err := Run(context.Background(), Config{Addr: addr, Conns: 3, Hold: 5 * time.Second}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Connected != 0 || sum.DialFailed != 3 || sum.DialErrors["connection refused"] != 3 {
		t.Errorf("summary = %+v; want 3 dials refused", sum)
	}
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var d []time.Duration
		for _, n := range ns {
			d = append(d, time.Duration(n)*time.Millisecond)
		}
		return d
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		vals []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 99, 0},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 100, 4 * time.Millisecond},
		{ms(hundred...), 99, 99 * time.Millisecond},
		{ms(hundred...), 1, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := Percentile(tt.vals, tt.p); got != tt.want {
			t.Errorf("Percentile(%d values, %v) = %v, want %v", len(tt.vals), tt.p, got, tt.want)
		}
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--conns", "5", "--from", "127.0.0.2", "--mode", "drip", "127.0.0.1:1"}, ""},
		{[]string{"127.0.0.1:1", "extra"}, "want one ADDR"},
		{[]string{"--mode", "loud", "127.0.0.1:1"}, `mode "loud"`},
		{[]string{"--from", "nowhere", "127.0.0.1:1"}, "--from"},
		{[]string{"--conns", "0", "127.0.0.1:1"}, "0 connections"},
	}
	for _, tt := range tests {
		_, err := parseArgs(tt.args, io.Discard)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("parseArgs(%q) = %v, want error containing %q", tt.args, err, tt.wantErr)
		}
	}
}

func TestMainUsage(t *testing.T) {
	var stderr bytes.Buffer
	if code := Main(context.Background(), nil, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "usage: rexec-flood") {
		t.Errorf("Main() = %d, stderr %q; want 2 and the usage", code, stderr.String())
	}
}
