package client_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// Dial does not wait for the server's hello: the request goes out right
// behind ours. A server that refuses the key must not run that request,
// and the refusal must come back from it with its outcome.
func TestPipelinedRequestOfRefusedKey(t *testing.T) {
	e := newResumeEnv(t)
	e.serve(t, false)
	stranger, err := auth.GenerateIdentity("stranger")
	if err != nil {
		t.Fatal(err)
	}
	e.cfg.Identity = stranger
	e.cfg.TicketDir = ""
	marker := filepath.Join(t.TempDir(), "ran")
	ctx := context.Background()
	for _, wait := range []bool{false, true} {
		c, err := client.Dial(ctx, e.cfg, e.target)
		if err != nil {
			t.Fatalf("Dial: %v (the refusal belongs to the first request)", err)
		}
		if wait {
			if err := c.Ready(); client.OutcomeOf(err) != outcome.AuthFailed {
				t.Errorf("Ready = %v, want auth_failed", err)
			}
		}
		var out bytes.Buffer
		_, err = c.Run(ctx, protocol.Exec{Command: "touch " + marker}, client.IO{Stdin: bytes.NewReader(nil), Stdout: &out, Stderr: &out})
		if client.OutcomeOf(err) != outcome.AuthFailed {
			t.Errorf("Run with a refused key (Ready first: %v) = %v, want auth_failed", wait, err)
		}
		c.Close()
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the pipelined command ran for a refused key: %v", err)
	}
}
