package legacy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Prompt is what the lesson's client prints before reading a command.
const Prompt = ">>: "

// maxLine bounds one line read from the user: a command may be at most
// MaxCommandSize bytes, plus room for the spaces trimmed around it.
const maxLine = 2 * MaxCommandSize

// PromptLoop is the lesson's interactive client: it connects once, then
// prints Prompt, reads a line from in, trims it, and runs it on the
// connection, writing the header line and the output to out, until in
// ends (it returns nil) or a request fails. An empty line prompts again.
// An ErrMD5Mismatch is reported to Stderr (or out) and the loop goes on,
// since the connection is still in step; any other error ends it.
//
// ctx ends the loop between lines and stops a running request, but a
// blocked read of in cannot be interrupted; give in a reader that ends.
func (c *Client) PromptLoop(ctx context.Context, in io.Reader, out io.Writer) error {
	conn, err := c.Dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	lines := bufio.NewScanner(in)
	lines.Buffer(make([]byte, 0, 4096), maxLine)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := io.WriteString(out, Prompt); err != nil {
			return fmt.Errorf("legacy: writing the prompt: %w", err)
		}
		if !lines.Scan() {
			return scanEnd(lines.Err(), out)
		}
		cmd := strings.TrimSpace(lines.Text())
		if cmd == "" {
			continue
		}
		if err := c.promptRun(ctx, conn, cmd, out); err != nil {
			return err
		}
	}
}

// promptRun runs one command of the loop, ending the output with a newline
// so the next prompt starts a line, as the lesson's print() does.
func (c *Client) promptRun(ctx context.Context, conn *Conn, cmd string, out io.Writer) error {
	lw := &lastByteWriter{w: out}
	_, err := conn.Run(ctx, cmd, lw)
	if errors.Is(err, ErrMD5Mismatch) {
		warn := c.Stderr
		if warn == nil {
			warn = out
		}
		fmt.Fprintln(warn, err)
		err = nil
	}
	if err != nil {
		return err
	}
	if lw.n > 0 && lw.last != '\n' {
		_, err = io.WriteString(out, "\n")
	}
	return err
}

// scanEnd turns the end of input into the loop's result: nil at EOF
// (after ending the prompt's line), ErrCommandTooLong for a huge line.
func scanEnd(err error, out io.Writer) error {
	switch {
	case err == nil:
		io.WriteString(out, "\n")
		return nil
	case errors.Is(err, bufio.ErrTooLong):
		return fmt.Errorf("%w: input line over %d bytes", ErrCommandTooLong, maxLine)
	}
	return fmt.Errorf("legacy: reading commands: %w", err)
}

// lastByteWriter passes writes on and remembers the last byte written.
type lastByteWriter struct {
	w    io.Writer
	n    int64
	last byte
}

func (l *lastByteWriter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if n > 0 {
		l.n += int64(n)
		l.last = p[n-1]
	}
	return n, err
}
