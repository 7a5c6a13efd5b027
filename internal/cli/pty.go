package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"

	"github.com/rexec-dev/rexec/internal/client"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// Default terminal size when the local side has none (-t without a tty).
const (
	defaultRows = 24
	defaultCols = 80
)

// errEscapeDisconnect is the cause when the user typed ~. to drop a session.
var errEscapeDisconnect = errors.New("connection closed by the ~. escape")

// setupPTY fills the terminal fields of req, puts the local terminal in raw
// mode and wires sio for a PTY session. The returned cleanup restores the
// terminal; it must run on every exit path (the caller defers it, which
// also covers panics).
func setupPTY(env Env, req *protocol.Exec, sio *client.IO, esc byte, useEsc bool,
	cancel context.CancelCauseFunc) (cleanup func(), err error) {
	req.PTY = true
	req.Term = os.Getenv("TERM")
	req.Rows, req.Cols = defaultRows, defaultCols
	f, ok := stdinFile(env)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func() {}, nil
	}
	if cols, rows, err := term.GetSize(int(f.Fd())); err == nil && rows > 0 && cols > 0 {
		req.Rows, req.Cols = rows, cols
	}
	state, err := term.MakeRaw(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("setting the terminal to raw mode: %w", err)
	}
	if useEsc && sio.Stdin != nil {
		sio.Stdin = newEscapeReader(sio.Stdin, esc, env.Stderr, func() { cancel(errEscapeDisconnect) })
	}
	resizes := make(chan protocol.Resize, 1)
	sio.Resizes = resizes
	winch, stopWinch := notifyResize()
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		forwardResizes(int(f.Fd()), winch, resizes, done)
	}()
	return func() {
		stopWinch()
		close(done)
		<-finished
		_ = term.Restore(int(f.Fd()), state)
	}, nil
}

// forwardResizes sends the terminal's size after every SIGWINCH until done,
// replacing a size not yet sent so the latest always wins.
func forwardResizes(fd int, winch <-chan os.Signal, out chan protocol.Resize, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-winch:
			cols, rows, err := term.GetSize(fd)
			if err != nil || rows <= 0 || cols <= 0 {
				continue
			}
			select {
			case <-out:
			default:
			}
			out <- protocol.Resize{Rows: rows, Cols: cols}
		}
	}
}
