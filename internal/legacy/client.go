package legacy

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// DefaultAddr is Client.Addr when empty: where the lesson's server.py
// listens by default.
const DefaultAddr = "127.0.0.1:8081"

// DialTimeout bounds connecting, separately from Client.Timeout, so an
// unreachable server fails fast even when commands may run for hours.
const DialTimeout = 10 * time.Second

// Client talks to a server of the lesson's protocol, ours or server.py.
// The zero value connects to DefaultAddr, decodes output automatically,
// prints the header line, and discards what it prints. Its fields must not
// change while a call runs; calls may run concurrently, each on its own
// connection.
type Client struct {
	// Addr is the server's "host:port"; empty means DefaultAddr.
	Addr string
	// Encoding says how the body is shown: "" picks GBK when the header
	// says "encoding": "gbk" (rexec serve --legacy-encoding gbk), else
	// UTF-8 when the whole body is valid UTF-8, else GBK when it is valid
	// GBK (a Windows server in code page 936), else the raw bytes; "utf-8" and "gbk" decode as
	// that (invalid bytes become U+FFFD); "raw" writes the bytes unchanged.
	Encoding string
	// Stdout receives Run's header line and output; nil discards them.
	Stdout io.Writer
	// Stderr receives warnings, such as a reply whose md5 is the lesson
	// server's placeholder and cannot be verified; nil discards them.
	Stderr io.Writer
	// HideHeader leaves out the header line; by default it is printed
	// before the output, as the lesson's client prints the header dict.
	HideHeader bool
	// Timeout bounds each request from sending the command to the end of
	// the reply; zero means no bound but ctx, since the server replies
	// only when the command has finished.
	Timeout time.Duration
	// Progress, if not nil, is called as body bytes arrive, with the bytes
	// so far and total_size, from the goroutine that called Run.
	Progress func(done, total int64)
}

// Reply describes one reply. The output itself has been written out.
type Reply struct {
	Header    Header // as received; Header.ExitCode is the command's exit status, when sent
	RawHeader string // the JSON header on one line, as printed
	Size      int64  // body bytes received
	MD5       string // hex MD5 of the body received
	// Verified is true when Header.MD5 was a real digest equal to MD5;
	// false when the server sent none (server.py sends a placeholder).
	Verified bool
	// Encoding is how the body was shown: "utf-8", "gbk" or "raw".
	Encoding string
}

// Run connects, sends command, writes the header line and the decoded
// output to Stdout, and closes the connection. The error is ErrMD5Mismatch,
// ErrServerClosed, ErrBadHeader, ErrBodyTooLarge and others of this
// package, wrapped, or a network or context error.
func (c *Client) Run(ctx context.Context, command string) (Reply, error) {
	if err := checkCommand(command); err != nil {
		return Reply{}, err
	}
	conn, err := c.Dial(ctx)
	if err != nil {
		return Reply{}, err
	}
	defer conn.Close()
	return conn.Run(ctx, command, c.Stdout)
}

// Dial connects to Addr, within DialTimeout and ctx, and returns a Conn for
// several commands in turn, as the lesson's client sends them.
func (c *Client) Dial(ctx context.Context) (*Conn, error) {
	if _, err := normEncoding(c.Encoding); err != nil {
		return nil, err
	}
	addr := c.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	d := net.Dialer{Timeout: DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("legacy: connecting to %s: %w", addr, err)
	}
	return &Conn{c: c, nc: nc}, nil
}

// Conn is one connection to a server, carrying commands one at a time.
// Run calls are serialized. After a Run fails while reading or writing the
// connection, the stream is out of step and every later Run fails with
// ErrConnBroken; an ErrMD5Mismatch or an output error leaves it usable.
type Conn struct {
	c  *Client
	nc net.Conn

	mu     sync.Mutex // mu serializes Run and guards broken
	broken error      // why the stream is out of step
}

// Close closes the connection; a Run in progress fails.
func (cn *Conn) Close() error { return cn.nc.Close() }

// Run sends command, receives the whole reply, checks its size and MD5,
// then writes the header line (unless HideHeader) and the decoded output
// to out (nil discards). Output is written only after the checks, so what
// is shown is what the server sent.
func (cn *Conn) Run(ctx context.Context, command string, out io.Writer) (Reply, error) {
	if err := checkCommand(command); err != nil {
		return Reply{}, err
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.broken != nil {
		return Reply{}, fmt.Errorf("%w: %w", ErrConnBroken, cn.broken)
	}
	sp := newSpool(memSpoolLimit)
	defer sp.Close()
	rep, err := cn.exchange(ctx, command, sp)
	if err != nil {
		cn.broken = err
		return rep, err
	}
	if out == nil {
		out = io.Discard
	}
	err = cn.c.show(&rep, sp, out)
	return rep, err
}

// exchange sends command and reads the reply body into sp, within
// Timeout and ctx: either one expiring sets a past deadline on the
// connection, which ends a blocked read or write at once.
func (cn *Conn) exchange(ctx context.Context, command string, sp *spool) (Reply, error) {
	if cn.c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cn.c.Timeout)
		defer cancel()
	}
	expired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(expired)
		cn.nc.SetDeadline(time.Unix(1, 0))
	})
	defer func() {
		if !stop() {
			<-expired
			cn.nc.SetDeadline(time.Time{})
		}
	}()
	var rep Reply
	_, err := io.WriteString(cn.nc, command)
	if err == nil {
		rep, err = readReply(cn.nc, sp, cn.c.Progress)
	} else {
		err = fmt.Errorf("legacy: sending the command: %w", err)
	}
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("legacy: request stopped: %w (%v)", context.Cause(ctx), err)
	}
	return rep, err
}

// show prints the header line, checks the MD5 and writes the decoded body.
func (c *Client) show(rep *Reply, sp *spool, out io.Writer) error {
	if !c.HideHeader {
		if _, err := fmt.Fprintln(out, rep.RawHeader); err != nil {
			return fmt.Errorf("legacy: writing output: %w", err)
		}
	}
	switch {
	case !isMD5Hex(rep.Header.MD5):
		c.warnf("legacy: the server sent no real md5 (%q); output not verified\n", rep.Header.MD5)
	case !strings.EqualFold(rep.Header.MD5, rep.MD5):
		return fmt.Errorf("%w: header says %s, body has %s", ErrMD5Mismatch, rep.Header.MD5, rep.MD5)
	default:
		rep.Verified = true
	}
	want := c.Encoding
	if want == EncodingAuto && strings.EqualFold(rep.Header.Encoding, EncodingGBK) {
		want = EncodingGBK // the server said it transcoded: no need to guess
	}
	enc, err := pickEncoding(want, sp.Reader)
	if err != nil {
		return err
	}
	rep.Encoding = enc
	if err := writeDecoded(out, sp.Reader(), enc); err != nil {
		return fmt.Errorf("legacy: writing output: %w", err)
	}
	return nil
}

func (c *Client) warnf(format string, args ...any) {
	if c.Stderr != nil {
		fmt.Fprintf(c.Stderr, format, args...)
	}
}

// checkCommand refuses what the protocol cannot carry: nothing at all
// (the server would wait for it forever) and more than MaxCommandSize.
func checkCommand(command string) error {
	switch {
	case len(command) == 0:
		return ErrEmptyCommand
	case len(command) > MaxCommandSize:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrCommandTooLong, len(command), MaxCommandSize)
	}
	return nil
}
