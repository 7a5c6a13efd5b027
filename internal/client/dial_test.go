package client

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestIsLocalhost(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LocalHost", true},
		{"localhost.", true},
		{"a.localhost", true},
		{"b.a.LOCALHOST.", true},
		{"localhost.example", false},
		{"notlocalhost", false},
		{"127.0.0.1", false},
		{"::1", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isLocalhost(tt.host); got != tt.want {
			t.Errorf("isLocalhost(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

// TestDialLocalhost: a localhost name reaches a daemon on 127.0.0.1, or on
// ::1 alone, without a lookup; with nothing listening the error names the
// IPv4 attempt, as net.Dial's would.
func TestDialLocalhost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tt := range []struct{ listen, host string }{
		{"127.0.0.1:0", "localhost"},
		{"[::1]:0", "Localhost."},
	} {
		ln, err := net.Listen("tcp", tt.listen)
		if err != nil {
			if strings.HasPrefix(tt.listen, "[") {
				t.Logf("no IPv6 loopback here: %v", err)
				continue
			}
			t.Fatal(err)
		}
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		accepted := make(chan net.Addr, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				accepted <- nil
				return
			}
			accepted <- c.LocalAddr()
			c.Close()
		}()
		c, err := dialTCP(ctx, Config{}, net.JoinHostPort(tt.host, port))
		if err != nil {
			ln.Close()
			t.Fatalf("dial %s:%s with a listener on %s: %v", tt.host, port, ln.Addr(), err)
		}
		c.Close()
		select {
		case got := <-accepted:
			if got == nil || got.String() != ln.Addr().String() {
				t.Errorf("dial %s:%s reached %v, want %v", tt.host, port, got, ln.Addr())
			}
		case <-time.After(5 * time.Second):
			t.Errorf("dial %s:%s succeeded but %s accepted nothing", tt.host, port, ln.Addr())
			ln.Close()
			<-accepted // Accept fails now: its goroutine ends
		}
		ln.Close()
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	_, err = dialTCP(ctx, Config{}, net.JoinHostPort("localhost", port))
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:"+port) {
		t.Errorf("dial localhost:%s with nothing listening: %v, want an error naming 127.0.0.1:%s", port, err, port)
	}
}
