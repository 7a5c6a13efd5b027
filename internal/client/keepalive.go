package client

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// Run's keepalive (PROTOCOL.md §4.5): while a command runs, the client
// pings the server every keepaliveInterval and takes it for dead when
// nothing at all (no output, no pong) has arrived for keepaliveMisses
// intervals while Run waited for it, so that a vanished server ends the
// run with ConnectionLost in bounded time instead of never. Time spent
// writing output locally (a paused `| less`) does not count: the server
// cannot be heard then, but it is not silent.
const (
	keepaliveInterval = 15 * time.Second
	keepaliveMisses   = 3
)

// errServerSilent is the cause of a run given up by the keepalive.
var errServerSilent = errors.New("no answer from the server")

// keepaliveInterval is how often Run pings the server.
func (c *Conn) keepaliveInterval() time.Duration {
	if c.keepalive > 0 {
		return c.keepalive
	}
	return keepaliveInterval
}

// answerPing is the client's one answer to the server's keepalive
// (PROTOCOL.md §4.5), for Run, Put, Stat and Get alike: a ping gets a
// pong, a pong is dropped. It reports whether m was either, and the error
// of sending the pong, which each caller classifies as its failures.
func (c *Conn) answerPing(m protocol.Message) (bool, error) {
	switch m.(type) {
	case protocol.Ping:
		return true, c.pc.Send(protocol.Pong{})
	case protocol.Pong:
		return true, nil
	}
	return false, nil
}

// recvFor reads the next message that is not part of the keepalive,
// answering pings on the way; what says, in the error of a lost
// connection, what was going on. With silence > 0 a server from which
// nothing at all arrives for that long is given up for dead (Run's
// keepalive); with 0 the read waits as long as the connection lives.
func (c *Conn) recvFor(what string, silence time.Duration) (protocol.Message, error) {
	for {
		if silence > 0 {
			c.setReadDeadline(time.Now().Add(silence))
		}
		m, err := c.pc.Recv()
		switch {
		case silence > 0 && errors.Is(err, os.ErrDeadlineExceeded):
			return nil, newError(outcome.ConnectionLost, c.target.String(), fmt.Errorf(
				"%w for %v: the connection is presumed dead and the command's outcome is unknown", errServerSilent, silence))
		case err != nil:
			return nil, c.recvError(what, err)
		}
		ping, err := c.answerPing(m)
		switch {
		case !ping:
			return m, nil
		case err != nil:
			return nil, newError(outcome.ConnectionLost, c.target.String(), err)
		}
	}
}
