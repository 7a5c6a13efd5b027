package cli_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/rexec-dev/rexec/internal/rexectest"
)

// rexecBin is the binary built once by TestMain: the end-to-end tests run
// real processes on real sockets, as a user would.
var rexecBin string

func TestMain(m *testing.M) { rexectest.MainWithBinary(m, &rexecBin) }

// daemon is a `rexec serve` process started by a test.
type daemon struct{ *rexectest.Daemon }

// startDaemon starts `rexec serve` with the given home and extra flags, on
// a free loopback port unless the flags give --listen, and waits until it announces its address.
func startDaemon(t *testing.T, home string, flags ...string) *daemon {
	t.Helper()
	return startDaemonWith(t, home, nil, flags...)
}

// startDaemonWith is startDaemon for a daemon that inherits extra open
// descriptors: extra[i] becomes its descriptor 3+i (a nil entry stays
// closed), without close-on-exec, as a careless parent would pass them.
func startDaemonWith(t *testing.T, home string, extra []*os.File, flags ...string) *daemon {
	t.Helper()
	return &daemon{rexectest.StartDaemon(t, rexecBin, rexectest.DaemonOptions{Home: home, Args: flags, ExtraFiles: extra})}
}

// host is the target for this daemon as a user would write it.
func (d *daemon) host() string { return "localhost:" + d.Port() }

// result is what a finished client process left.
type result struct {
	stdout, stderr string
	code           int
}

// rexec runs the client with REXEC_HOME=home, stdin from in (nil: empty),
// bounded by a minute.
func rexec(t *testing.T, home string, in io.Reader, args ...string) result {
	t.Helper()
	return rexecEnv(t, home, nil, in, args...)
}

// rexecEnv is rexec with env (NAME=value) added to its environment.
func rexecEnv(t *testing.T, home string, env []string, in io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rexecBin, args...)
	cmd.Env = append(append(os.Environ(), "REXEC_HOME="+home), env...)
	cmd.Stdin = in
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("rexec %v did not finish within a minute; stdout %q stderr %q", args, out.String(), errb.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("rexec %v: %v", args, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode()}
}

// startRexec starts the client with REXEC_HOME=home and returns it with
// its stdout; the caller waits for it.
func startRexec(t *testing.T, home string, args ...string) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	cmd := exec.Command(rexecBin, args...)
	cmd.Env = append(os.Environ(), "REXEC_HOME="+home)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, out
}
