package server

import (
	"errors"
	"net"
	"slices"
	"testing"

	"github.com/rexec-dev/rexec/internal/protocol"
)

// TestClaim: a request takes the connection only when none holds it and
// nothing is closing; every refusal is its one error frame, busy or
// unavailable, and an error that ends the connection. A file request's
// release hands the connection back.
func TestClaim(t *testing.T) {
	tests := []struct {
		name      string
		held      requestKind
		exiting   int
		closed    bool
		closing   bool
		want      error
		wantCodes []string
	}{
		{"free", noRequest, 0, false, false, nil, nil},
		{"a session's exit still being sent", noRequest, 1, false, false, nil, nil},
		{"an exec holds it", execRequest, 0, false, false, errBusy, []string{protocol.CodeBusy}},
		{"a file request holds it", fileRequest, 0, false, false, errBusy, []string{protocol.CodeBusy}},
		{"connection closed", noRequest, 0, true, false, errAborted, []string{protocol.CodeUnavailable}},
		{"server shutting down", noRequest, 0, false, true, errAborted, []string{protocol.CodeUnavailable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, cli := net.Pipe()
			codes := make(chan []string)
			go func() { codes <- readCodes(cli) }()
			c := &serverConn{s: &Server{closing: tt.closing}, nc: srv, pc: protocol.NewConn(srv),
				req: tt.held, exiting: tt.exiting, closed: tt.closed}
			err := c.claim(fileRequest)
			if !errors.Is(err, tt.want) {
				t.Errorf("claim = %v, want %v", err, tt.want)
			}
			if tt.want == nil {
				if c.req != fileRequest || !c.busyLocked() {
					t.Errorf("after claim: req %v, busy %v; want the file request holding it", c.req, c.busyLocked())
				}
				c.release()
				if c.req != noRequest || c.busyLocked() != (tt.exiting > 0) {
					t.Errorf("after release: req %v, busy %v; want free", c.req, c.busyLocked())
				}
			}
			srv.Close()
			if got := <-codes; !slices.Equal(got, tt.wantCodes) {
				t.Errorf("error frames %v, want %v", got, tt.wantCodes)
			}
		})
	}
}

// readCodes reads frames until the connection ends and returns the codes
// of the error frames among them.
func readCodes(nc net.Conn) []string {
	defer nc.Close()
	pc := protocol.NewConn(nc)
	var codes []string
	for {
		m, err := pc.Recv()
		if err != nil {
			return codes
		}
		if e, ok := m.(protocol.Error); ok {
			codes = append(codes, e.Code)
		}
	}
}
