package legacy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/rexectest"
)

// headerLine is the line our client prints for a reply with body from a
// command that exited 0.
func headerLine(body string) string {
	return fmt.Sprintf(`{"filename":"a.txt","md5":"%s","total_size":%d,"exit_code":0}`, md5hex([]byte(body)), len(body)) + "\n"
}

func TestPromptLoop(t *testing.T) {
	srv := startServer(t, nil)
	in := strings.NewReader("echo a\n\n   echo b  \nprintf c\n")
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := (&Client{Addr: srv.addr}).PromptLoop(ctx, in, &out); err != nil {
		t.Fatalf("PromptLoop = %v, want nil at EOF", err)
	}
	want := ">>: " + headerLine("a\n") + "a\n" +
		">>: " + ">>: " + headerLine("b\n") + "b\n" +
		">>: " + headerLine("c") + "c\n" +
		">>: \n"
	if out.String() != want {
		t.Errorf("PromptLoop wrote\n%q\nwant\n%q", out.String(), want)
	}
	if n := strings.Count(srv.logs.String(), "legacy client connected"); n != 1 {
		t.Errorf("%d connections, want one for the whole loop", n)
	}
}

func TestPromptLoopEndsOnBrokenConnection(t *testing.T) {
	addr := fakeServer(t, func(c net.Conn) { readCommand(c) })
	var out bytes.Buffer
	err := (&Client{Addr: addr}).PromptLoop(context.Background(), strings.NewReader("echo a\necho b\n"), &out)
	if !errors.Is(err, ErrServerClosed) {
		t.Errorf("PromptLoop = %v, want ErrServerClosed", err)
	}
}

func TestClientRefusesBadInput(t *testing.T) {
	tests := []struct {
		name    string
		c       Client
		command string
		want    error
	}{
		{"empty command", Client{Addr: "127.0.0.1:1"}, "", ErrEmptyCommand},
		{"long command", Client{Addr: "127.0.0.1:1"}, strings.Repeat("x", MaxCommandSize+1), ErrCommandTooLong},
		{"bad encoding", Client{Addr: "127.0.0.1:1", Encoding: "latin1"}, "true", ErrBadEncoding},
	}
	for _, tt := range tests {
		if _, err := tt.c.Run(context.Background(), tt.command); !errors.Is(err, tt.want) {
			t.Errorf("%s: Run = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestMD5MismatchKeepsConnection: a wrong digest is an error, the output
// is not shown, and the next command on the connection works.
func TestMD5MismatchKeepsConnection(t *testing.T) {
	addr := fakeServer(t, func(c net.Conn) {
		readCommand(c)
		c.Write(append(encodeHeader(Header{MD5: md5hex([]byte("other")), TotalSize: 5}), "hello"...))
		readCommand(c)
		c.Write(lessonReplyBytes("fine"))
	})
	conn, err := (&Client{Addr: addr, HideHeader: true}).Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var out bytes.Buffer
	if _, err := conn.Run(context.Background(), "one", &out); !errors.Is(err, ErrMD5Mismatch) || out.Len() != 0 {
		t.Errorf("Run = %v, output %q; want ErrMD5Mismatch, nothing shown", err, out.String())
	}
	if rep, err := conn.Run(context.Background(), "two", &out); err != nil || out.String() != "fine" || !rep.Verified {
		t.Errorf("next Run = %q, %v; want fine, verified", out.String(), err)
	}
}

// TestConnBrokenAfterShortReply: once a reply was cut, the stream is out
// of step and the Conn refuses further commands.
func TestConnBrokenAfterShortReply(t *testing.T) {
	addr := fakeServer(t, func(c net.Conn) {
		readCommand(c)
		c.Write(encodeHeader(Header{MD5: md5hex(nil), TotalSize: 100}))
	})
	conn, err := (&Client{Addr: addr}).Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Run(context.Background(), "one", nil); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Run = %v, want ErrServerClosed", err)
	}
	if _, err := conn.Run(context.Background(), "two", nil); !errors.Is(err, ErrConnBroken) {
		t.Errorf("second Run = %v, want ErrConnBroken", err)
	}
}

// TestClientTimeout: a server that never replies is given up on after
// Timeout, and a cancelled ctx does the same.
func TestClientTimeout(t *testing.T) {
	hold := make(chan struct{})
	addr := fakeServer(t, func(c net.Conn) {
		readCommand(c)
		<-hold
	})
	defer close(hold)
	start := time.Now()
	_, _, err := runOurs(t, &Client{Addr: addr, Timeout: 200 * time.Millisecond}, "x")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run = %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v, want about 200ms", took)
	}
}

func TestClientDialError(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", rexectest.FreePort(t))
	if _, err := (&Client{Addr: addr}).Run(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("Run against a closed port = %v, want an error naming %s", err, addr)
	}
}
