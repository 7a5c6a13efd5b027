package client

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
	"github.com/rexec-dev/rexec/internal/rexectest"
)

// startFakeServer is a rexec server reduced to what the keepalive tests
// need (rexectest.FakeServer): script is played after hello.
func startFakeServer(t *testing.T, script func(*protocol.Conn)) *rexectest.FakeServer {
	t.Helper()
	return rexectest.StartFakeServer(t, protocol.Hello{Software: "fake", Encoding: "utf-8"}, script)
}

// dialFake connects to the fake server fs with a fresh identity, pinning
// its key.
func dialFake(t *testing.T, fs *rexectest.FakeServer, keepalive time.Duration) *Conn {
	t.Helper()
	id, err := auth.GenerateIdentity("client")
	if err != nil {
		t.Fatal(err)
	}
	kh := auth.KnownHosts{Path: filepath.Join(t.TempDir(), "known_hosts")}
	tgt, err := ParseTarget(fs.Addr, DefaultPort)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Dial(context.Background(), Config{Identity: id, KnownHosts: kh, AcceptNew: true}, tgt)
	if err != nil {
		t.Fatalf("Dial = %v", err)
	}
	c.keepalive = keepalive
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRunKeepalive: Run pings the server while a command runs; a server
// that answers keeps the run going however long it is quiet, and one that
// goes silent (a vanished host, a wedged daemon) ends it with
// ConnectionLost and a one-line reason within keepaliveMisses intervals,
// instead of never.
func TestRunKeepalive(t *testing.T) {
	const interval = 200 * time.Millisecond
	const quiet = 10 * interval // a command that prints nothing for this long
	tests := []struct {
		name   string
		answer bool // the server answers pings with pongs
	}{
		{"server answers", true},
		{"server silent", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pings := make(chan struct{}, 100)
			fs := startFakeServer(t, func(pc *protocol.Conn) {
				start := time.Now()
				for time.Since(start) < quiet { // bounded by the run's own deadline too
					m, err := pc.Recv()
					if err != nil {
						return
					}
					if _, ok := m.(protocol.Ping); !ok {
						continue
					}
					select {
					case pings <- struct{}{}:
					default:
					}
					if tt.answer && pc.Send(protocol.Pong{}) != nil {
						return
					}
				}
				_ = pc.Send(protocol.Exit{Code: 0})
				for { // hold the connection open until the client or the cleanup closes it
					if _, err := pc.Recv(); err != nil {
						return
					}
				}
			})
			c := dialFake(t, fs, interval)
			start := time.Now()
			res, err := c.Run(context.Background(), protocol.Exec{Command: "sleep 2"}, IO{Stdout: io.Discard, Stderr: io.Discard})
			took := time.Since(start)
			if len(pings) < 2 {
				t.Errorf("the server saw %d pings in %v, want one per %v", len(pings), took, interval)
			}
			if tt.answer {
				if err != nil || res.Exit.Code != 0 {
					t.Fatalf("Run against a quiet, answering server = %+v, %v; want exit 0", res, err)
				}
				return
			}
			bound := keepaliveMisses*interval + runBound/10
			if OutcomeOf(err) != outcome.ConnectionLost || !errors.Is(err, errServerSilent) || took > bound {
				t.Fatalf("Run against a silent server = %v after %v; want ConnectionLost (%v) within %v", err, took, errServerSilent, bound)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "outcome is unknown") {
				t.Errorf("error %q: want one line saying the outcome is unknown", msg)
			}
		})
	}
}

// TestResumableRunOnPlainServer: a run that asks for resumption holds its
// stdin until the resume token is in, except from a server whose hello
// does not list resume: that one gets stdin at once, so a command that
// reads before it prints (cat) runs as it always did.
func TestResumableRunOnPlainServer(t *testing.T) {
	fs := startFakeServer(t, func(pc *protocol.Conn) {
		var got []byte
		for range 100 {
			m, err := pc.Recv()
			if err != nil {
				return
			}
			switch m := m.(type) {
			case protocol.Data:
				got = append(got, m.Body...)
			case protocol.StdinEOF:
				_ = pc.Send(protocol.Data{Stream: protocol.TypeStdout, Body: got})
				_ = pc.Send(protocol.Exit{Code: 3})
				return
			}
		}
	})
	c := dialFake(t, fs, 0)
	c.cfg.Resume = true
	var out strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Run(ctx, protocol.Exec{Argv: []string{"cat"}}, IO{Stdin: strings.NewReader("hello\n"), Stdout: &out, Stderr: io.Discard})
	if err != nil || res.Exit.Code != 3 || out.String() != "hello\n" {
		t.Fatalf("Run = %+v, %v, stdout %q; want exit 3 and the stdin back", res.Exit, err, out.String())
	}
}
