//go:build linux

package synwatch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/rexectest"
)

// The real SYN flood runs in a private network namespace: the test binary
// re-executes itself with CLONE_NEWNET, so the namespace (and its
// listener, firewall rule and half-open connections) vanishes with the
// child process whatever happens. All packets stay on that namespace's
// loopback: the spoofed sources are 127.77.x.y, and an nftables rule there
// drops the SYN-ACKs sent to them (otherwise the namespace's own stack
// would answer them with RSTs and no connection would stay half-open).
const (
	synHelperEnv  = "REXEC_SYN_HELPER"  // "flood" or "normal": run as the child
	synCaptureEnv = "REXEC_SYN_CAPTURE" // a directory: the flood child copies /proc/net files there

	floodSYNs      = 5000                   // > the 4096 listen backlog, so SYN cookies start too
	floodBatch     = 250                    // SYNs sent back to back
	floodPause     = 50 * time.Millisecond  // between batches: the flood lasts about a second
	floodMaxTime   = 5 * time.Second        // stop early if the machine is that slow
	alarmWithin    = 2 * time.Second        // the bound, from the first SYN
	helperInterval = 500 * time.Millisecond // Watcher interval in the child
	normalRunFor   = 3 * time.Second
	legitPause     = 50 * time.Millisecond // between the legitimate client's connections
	legitAfter     = 5                     // connections it makes at least, some after the flood
	legitMaxTries  = 200
)

// nftRules drop, in the child's namespace only, every SYN-ACK sent to the
// spoofed source range.
const nftRules = `table ip rexec_synflood {
	chain out {
		type filter hook output priority 0; policy accept;
		ip daddr 127.77.0.0/16 tcp flags & (syn | ack) == syn | ack drop
	}
}
`

// TestSYNFloodNetns is the acceptance test for the SYN watch: a
// flood of spoofed SYNs raises the alarm within 2 s while a legitimate
// client still connects, and a normal run raises none. It needs root (CI
// runs as root), iproute2 and nftables; under CI a missing piece fails the
// test instead of skipping it.
func TestSYNFloodNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace and a raw socket")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			rexectest.SkipOrFail(t, "%s not found (apt-get install iproute2 nftables)", tool)
		}
	}
	for _, mode := range []string{"flood", "normal"} {
		t.Run(mode, func(t *testing.T) {
			out, err := runSYNHelper(t, mode)
			t.Logf("helper output:\n%s", out)
			if err != nil {
				t.Fatalf("helper in a private netns (%s): %v", mode, err)
			}
			if !strings.Contains(out, "--- PASS: TestSYNFloodHelper") {
				t.Fatalf("helper did not pass")
			}
		})
	}
}

// runSYNHelper re-executes the test binary in a new network namespace.
func runSYNHelper(t *testing.T, mode string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSYNFloodHelper$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), synHelperEnv+"="+mode)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Start()
	if err != nil {
		rexectest.SkipOrFail(t, "cannot create a network namespace: %v", err)
	}
	err = cmd.Wait()
	return out.String(), err
}

// TestSYNFloodHelper is the child of TestSYNFloodNetns; it skips when run
// directly.
func TestSYNFloodHelper(t *testing.T) {
	mode := os.Getenv(synHelperEnv)
	if mode == "" {
		t.Skip("runs only as the child of TestSYNFloodNetns")
	}
	setupNetns(t)
	ln, err := net.Listen("tcp", "[::]:0") // dual stack: IPv4 SYNs show in tcp6 as ::ffff:a.b.c.d
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() { serveOK(ln) })

	logs := newLogCapture()
	m := serveMetrics(t)
	w := New(Config{Ports: []uint16{port}, Interval: helperInterval, Logger: slog.New(logs), Metrics: m.Metrics})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wg.Go(func() {
		if err := w.Run(ctx); err != nil {
			t.Errorf("Watcher.Run: %v", err)
		}
	})
	time.Sleep(helperInterval / 2) // let the baseline sample happen before the flood

	switch mode {
	case "flood":
		runFlood(t, port, logs, m)
	case "normal":
		runNormal(t, port, logs)
	default:
		t.Fatalf("unknown helper mode %q", mode)
	}
}

// setupNetns brings the namespace's loopback up and installs the rule that
// drops SYN-ACKs to the spoofed sources.
func setupNetns(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v %s", err, out)
	}
	nft := exec.Command("nft", "-f", "-")
	nft.Stdin = strings.NewReader(nftRules)
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
}

// serveOK answers every connection with "ok\n" until ln is closed.
func serveOK(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "ok\n")
		c.Close()
	}
}

// legitConnect dials the listener as an ordinary client and reads its
// greeting.
func legitConnect(port uint16) error {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 3*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "ok\n" {
		return fmt.Errorf("read %q, %v", line, err)
	}
	return nil
}

func runFlood(t *testing.T, port uint16, logs *logCapture, m *servedMetrics) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
	if err != nil {
		t.Fatalf("raw socket: %v", err)
	}
	defer syscall.Close(fd)
	start := time.Now()
	flooding := make(chan struct{})
	var (
		wg        sync.WaitGroup
		sent      int
		floodErr  error
		floodTime time.Duration
		legitOK   int
		legitErrs []error
	)
	wg.Go(func() {
		defer close(flooding)
		sent, floodErr = sendSYNs(fd, port, start.Add(floodMaxTime))
		floodTime = time.Since(start)
	})
	wg.Go(func() { // a legitimate client keeps connecting during the flood and after it
		for i := 0; i < legitMaxTries; i++ {
			if err := legitConnect(port); err != nil {
				legitErrs = append(legitErrs, err)
			} else {
				legitOK++
			}
			select {
			case <-flooding:
				if i >= legitAfter {
					return
				}
			default:
			}
			time.Sleep(legitPause)
		}
	})
	alarm, ok := logs.wait("possible SYN flood", alarmWithin)
	elapsed := time.Since(start)
	wg.Wait()
	t.Logf("sent %d spoofed SYNs in %v; alarm %v after the first; legitimate client: %d connected, %d failed; %s",
		sent, floodTime.Round(time.Millisecond), elapsed.Round(time.Millisecond), legitOK, len(legitErrs), alarm)
	if floodErr != nil || sent != floodSYNs {
		t.Fatalf("flood: sent %d SYNs, %v", sent, floodErr)
	}
	if !ok {
		t.Fatalf("no SYN flood alarm within %v; logs:\n%s", alarmWithin, logs)
	}
	if alarm.attrs["sources"] == "" || alarm.attrs["sources"] == "0" {
		t.Errorf("alarm does not count the sources: %s", alarm)
	}
	if got := m.value(t, "rexec_syn_flood_alarm"); got != "1" {
		t.Errorf("rexec_syn_flood_alarm = %s, want 1", got)
	}
	if len(legitErrs) > 0 || legitOK < legitAfter {
		t.Errorf("legitimate client during the flood: %d connected, errors %v", legitOK, legitErrs)
	}
	if dir := os.Getenv(synCaptureEnv); dir != "" {
		captureProc(t, dir)
	}
}

func runNormal(t *testing.T, port uint16, logs *logCapture) {
	deadline := time.Now().Add(normalRunFor)
	n := 0
	for ; time.Now().Before(deadline) && n < 1000; n++ {
		if err := legitConnect(port); err != nil {
			t.Fatalf("legitimate client %d: %v", n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if alarm, ok := logs.wait("possible SYN flood", 0); ok {
		t.Fatalf("alarm in a normal run of %d connections: %s", n, alarm)
	}
	t.Logf("%d connections, no alarm", n)
}

// sendSYNs sends floodSYNs spoofed SYNs from 127.77.x.y to 127.0.0.1:port
// in batches, stopping early at deadline.
func sendSYNs(fd int, port uint16, deadline time.Time) (int, error) {
	dst := [4]byte{127, 0, 0, 1}
	to := &syscall.SockaddrInet4{Addr: dst}
	for i := 0; i < floodSYNs; i++ {
		if i%floodBatch == 0 && i > 0 {
			if time.Now().After(deadline) {
				return i, nil
			}
			time.Sleep(floodPause)
		}
		src := [4]byte{127, 77, byte(i / 250), byte(i%250 + 1)}
		pkt := synPacket(src, dst, uint16(20000+i%40000), port, uint32(i)*2654435761)
		if err := syscall.Sendto(fd, pkt, 0, to); err != nil {
			return i, err
		}
	}
	return floodSYNs, nil
}

// synPacket builds an IPv4 header and a TCP SYN segment, checksums filled.
func synPacket(src, dst [4]byte, sport, dport uint16, seq uint32) []byte {
	p := make([]byte, 40)
	p[0] = 0x45 // IPv4, 5-word header
	binary.BigEndian.PutUint16(p[2:], 40)
	binary.BigEndian.PutUint16(p[4:], uint16(seq))
	p[8], p[9] = 64, syscall.IPPROTO_TCP
	copy(p[12:16], src[:])
	copy(p[16:20], dst[:])
	binary.BigEndian.PutUint16(p[10:], checksum(p[:20]))
	tcp := p[20:]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	tcp[12] = 5 << 4 // data offset: 5 words, no options
	tcp[13] = 0x02   // SYN
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	pseudo := make([]byte, 0, 12+len(tcp))
	pseudo = append(pseudo, src[:]...)
	pseudo = append(pseudo, dst[:]...)
	pseudo = append(pseudo, 0, syscall.IPPROTO_TCP, 0, byte(len(tcp)))
	pseudo = append(pseudo, tcp...)
	binary.BigEndian.PutUint16(tcp[16:], checksum(pseudo))
	return p
}

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func TestSYNPacketChecksums(t *testing.T) {
	p := synPacket([4]byte{127, 77, 1, 2}, [4]byte{127, 0, 0, 1}, 40000, 7022, 12345)
	if got := checksum(p[:20]); got != 0 {
		t.Errorf("IPv4 header checksum verifies to %#x, want 0", got)
	}
	pseudo := append([]byte{127, 77, 1, 2, 127, 0, 0, 1, 0, 6, 0, 20}, p[20:]...)
	if got := checksum(pseudo); got != 0 {
		t.Errorf("TCP checksum verifies to %#x, want 0", got)
	}
}

// captureProc copies the namespace's /proc/net files, for refreshing
// internal/procnet/testdata by hand (REXEC_SYN_CAPTURE=dir go test -run
// TestSYNFloodNetns).
func captureProc(t *testing.T, dir string) {
	for _, name := range []string{"tcp", "tcp6", "netstat"} {
		b, err := os.ReadFile(filepath.Join("/proc/net", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "flood_"+name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
