package legacy

// One test per defect of the lesson's programs listed in
// testdata/lesson/README.md, proving ours do not have it.

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// lessonReplyBytes is a reply as the lesson's protocol frames it.
func lessonReplyBytes(body string) []byte {
	return append(encodeHeader(Header{MD5: md5hex([]byte(body)), TotalSize: int64(len(body))}), body...)
}

// TestNoShortReadOfPrefixOrHeader: the reply arrives one byte at a time,
// so every read of the prefix, the header and the body is short.
func TestNoShortReadOfPrefixOrHeader(t *testing.T) {
	reply := lessonReplyBytes("hello\n")
	addr := fakeServer(t, func(c net.Conn) {
		readCommand(c)
		for i := range reply {
			c.Write(reply[i : i+1])
			time.Sleep(time.Millisecond)
		}
	})
	out, rep, err := runOurs(t, &Client{Addr: addr, HideHeader: true}, "x")
	if err != nil || out != "hello\n" || !rep.Verified {
		t.Errorf("Run = %q, verified %v, %v; want %q, verified", out, rep.Verified, err, "hello\n")
	}
}

// TestNoEndlessLoopWhenServerClosesEarly: the server closes in the middle
// of each part of the reply; the client says so at once.
func TestNoEndlessLoopWhenServerClosesEarly(t *testing.T) {
	full := lessonReplyBytes(strings.Repeat("z", 1000))
	hdrEnd := len(full) - 1000
	tests := []struct {
		name string
		send []byte
		want string
	}{
		{"nothing", nil, "after 0 of 4 length-prefix bytes"},
		{"mid prefix", full[:2], "after 2 of 4 length-prefix bytes"},
		{"mid header", full[:10], "after 6 of "},
		{"mid body", full[:hdrEnd+10], "after 10 of 1000 body bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeServer(t, func(c net.Conn) {
				readCommand(c)
				c.Write(tt.send)
			})
			start := time.Now()
			_, _, err := runOurs(t, &Client{Addr: addr}, "x")
			if !errors.Is(err, ErrServerClosed) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run = %v, want ErrServerClosed %q", err, tt.want)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("took %v, want < 1s", took)
			}
		})
	}
}

// TestLongCommandNotSplit: a 1,500-byte command sent in two writes 10 ms
// apart runs once, as one command.
func TestLongCommandNotSplit(t *testing.T) {
	srv := startServer(t, nil)
	word := strings.Repeat("B", 1500-len("echo "))
	c := dialRaw(t, srv.addr)
	cmd := "echo " + word
	c.Write([]byte(cmd[:1000]))
	time.Sleep(10 * time.Millisecond)
	c.Write([]byte(cmd[1000:]))
	if body := readRawReply(t, c); body != word+"\n" {
		t.Errorf("body %d bytes, want the word once (%d bytes)", len(body), len(word)+1)
	}
}

// TestBackToBackCommandsNotStuck: commands on one connection, the second
// sent while the first still runs, come back as separate replies in order.
func TestBackToBackCommandsNotStuck(t *testing.T) {
	srv := startServer(t, nil)
	c := dialRaw(t, srv.addr)
	c.Write([]byte("sleep 0.3; echo one"))
	time.Sleep(150 * time.Millisecond) // the first command is running by now
	c.Write([]byte("echo two"))
	if got := readRawReply(t, c) + readRawReply(t, c); got != "one\ntwo\n" {
		t.Errorf("two replies = %q, want %q", got, "one\ntwo\n")
	}
	conn, err := (&Client{Addr: srv.addr, HideHeader: true}).Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i, want := range []string{"a\n", "b\n", "c\n"} {
		var out bytes.Buffer
		if _, err := conn.Run(context.Background(), "echo "+want[:1], &out); err != nil || out.String() != want {
			t.Errorf("command %d on one Conn = %q, %v; want %q", i, out.String(), err, want)
		}
	}
}

// TestNoDeadlockWhenStderrFillsFirst: 70 KB to stderr, more than a pipe
// holds, before stdout is written.
func TestNoDeadlockWhenStderrFillsFirst(t *testing.T) {
	srv := startServer(t, nil)
	out, _, err := runOurs(t, &Client{Addr: srv.addr, HideHeader: true}, `head -c 71680 /dev/zero | tr '\0' e >&2; echo out`)
	if want := "out\n" + strings.Repeat("e", 71680); err != nil || out != want {
		t.Errorf("Run = %d bytes %.20q, %v; want stdout then 70 KiB of stderr", len(out), out, err)
	}
}

// TestUTF8CutAtBoundary: a character straddling byte 1024 of a command,
// and characters straddling the client's read and decode chunks.
func TestUTF8CutAtBoundary(t *testing.T) {
	srv := startServer(t, nil)
	word := strings.Repeat("a", 1023-len("echo ")) + "中文"
	out, _, err := runOurs(t, &Client{Addr: srv.addr, HideHeader: true}, "echo "+word)
	if err != nil || out != word+"\n" {
		t.Errorf("command cut at 1024: %d bytes, %v; want %q", len(out), err, word[len(word)-10:]+"\n")
	}
	for _, at := range []int{1023, 32<<10 - 1, 64<<10 - 2} {
		cmd := `head -c ` + strconv.Itoa(at) + ` /dev/zero | tr '\0' a; printf '\344\270\255\n'`
		out, rep, err := runOurs(t, &Client{Addr: srv.addr, HideHeader: true}, cmd)
		if want := strings.Repeat("a", at) + "中\n"; err != nil || out != want || rep.Encoding != EncodingUTF8 {
			t.Errorf("中 at byte %d: tail %q, %s, %v; want whole, utf-8", at, tail(out), rep.Encoding, err)
		}
	}
}

// TestManyClientsAtOnce: like TestSeedClientsServedTogether, with raw
// sockets: the first command can only print "one" once the second has
// run, and waits for it at most 10 s.
func TestManyClientsAtOnce(t *testing.T) {
	srv := startServer(t, nil)
	dir := t.TempDir()
	started, flag := filepath.Join(dir, "started"), filepath.Join(dir, "flag")
	c1, c2 := dialRaw(t, srv.addr), dialRaw(t, srv.addr)
	c1.Write([]byte(`touch ` + started + `; i=0; while [ ! -e ` + flag + ` ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; [ -e ` + flag + ` ] && echo one || echo timeout`))
	if !waitFor(testTimeout, func() bool { _, err := os.Stat(started); return err == nil }) {
		t.Fatal("first command never started")
	}
	c2.Write([]byte(`touch ` + flag + `; echo two`))
	if got := readRawReply(t, c2); got != "two\n" {
		t.Errorf("second client = %q, want two", got)
	}
	if got := readRawReply(t, c1); got != "one\n" {
		t.Errorf("first client = %q, want one (served while it waited)", got)
	}
}

// TestDecodingSurvivesUTF8AndBinary: the lesson decodes everything as
// GBK and crashes on UTF-8 or binary output; we pick per reply.
func TestDecodingSurvivesUTF8AndBinary(t *testing.T) {
	srv := startServer(t, nil)
	tests := []struct{ command, want, enc string }{
		{`printf '\344\270\255\346\226\207'`, "中文", EncodingUTF8},
		{`printf '\326\320\316\304'`, "中文", EncodingGBK},
		{`printf '\377\376\000\001\200'`, "\xff\xfe\x00\x01\x80", EncodingRaw},
		{`true`, "", EncodingUTF8},
	}
	for _, tt := range tests {
		out, rep, err := runOurs(t, &Client{Addr: srv.addr, HideHeader: true}, tt.command)
		if err != nil || out != tt.want || rep.Encoding != tt.enc {
			t.Errorf("Run(%s) = %q, %s, %v; want %q, %s", tt.command, out, rep.Encoding, err, tt.want, tt.enc)
		}
	}
}

// TestExitStatusLoggedAndStderrAfterStdout: the protocol has no field for
// the exit status, so the server logs it; the body is stdout then stderr,
// as the protocol defines, however the command interleaved them.
func TestExitStatusLoggedAndStderrAfterStdout(t *testing.T) {
	srv := startServer(t, nil)
	out, _, err := runOurs(t, &Client{Addr: srv.addr, HideHeader: true}, `echo err1 >&2; echo out1; echo err2 >&2; echo out2; exit 3`)
	if want := "out1\nout2\nerr1\nerr2\n"; err != nil || out != want {
		t.Errorf("Run = %q, %v; want %q", out, err, want)
	}
	if !waitFor(5*time.Second, func() bool { return strings.Contains(srv.logs.String(), `status="exit 3"`) }) {
		t.Errorf("log %q does not record exit 3", srv.logs.String())
	}
	// A command that closes its output early is still waited for.
	out, _, err = runOurs(t, &Client{Addr: srv.addr, HideHeader: true}, `echo early; exec >/dev/null 2>&1; sleep 0.2; exit 4`)
	if err != nil || out != "early\n" || !strings.Contains(srv.logs.String(), `status="exit 4"`) {
		t.Errorf("Run = %q, %v; log %q; want early and exit 4 logged", out, err, srv.logs.String())
	}
}

// dialRaw connects a plain socket, closed at cleanup.
func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { c.Close() })
	return c
}

// readRawReply reads one reply exactly and returns its checked body.
func readRawReply(t *testing.T, c net.Conn) string {
	t.Helper()
	var body bytes.Buffer
	rep, err := readReply(c, &body, nil)
	if err != nil {
		t.Fatalf("reading a reply: %v", err)
	}
	if rep.MD5 != rep.Header.MD5 {
		t.Errorf("header md5 %s, body md5 %s", rep.Header.MD5, rep.MD5)
	}
	return body.String()
}

func tail(s string) string { return s[max(0, len(s)-8):] }
