package legacy

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/text/transform"

	"github.com/rexec-dev/rexec/internal/outcome"
	"github.com/rexec-dev/rexec/internal/session"
)

// noteRoom is kept free under MaxBodySize for the note that says why the
// output was cut, so a cut reply still fits the client's limit.
const noteRoom = 4 << 10

// logCommandMax is how much of a command goes into the log.
const logCommandMax = 256

// execute runs one command and sends its reply. An error means the
// connection must end: the client left or misbehaved, the command looked
// like another protocol, its audit record could not be written, or ctx is
// done.
func (c *serverConn) execute(ctx context.Context, cmd string) error {
	if f := sniff([]byte(cmd)); f != notForeign {
		c.refuse(ruleProtocol, "the command looks like "+string(f)+"; nothing was run", sniffedText(cmd, f))
		return fmt.Errorf("%w: %s", errForeign, f)
	}
	id := session.NewID()
	aud, err := c.beginAudit(id, cmd)
	if err != nil {
		return err
	}
	start := time.Now()
	res := newResult()
	defer res.close()
	err = c.run(ctx, id, cmd, res)
	c.logRun(cmd, res, err, time.Since(start))
	var sent int64
	if err == nil {
		sent, err = c.reply(res)
	}
	aud.end(c, res, sent, err)
	return err
}

// sniffedText is what of a refused command goes into the log and the
// audit record: the first line of a text protocol, cut to logCommandMax
// bytes; nothing of a binary one.
func sniffedText(cmd string, f foreign) string {
	if f != httpRequest && f != httpHeader && f != sshBanner {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimLeft(cmd, "\r\n"), "\n")
	line = strings.TrimSuffix(line, "\r")
	return line[:min(len(line), logCommandMax)]
}

// run starts cmd through `$SHELL -c` as session id, collects stdout and
// stderr concurrently into res until both close, and always closes the
// session, which kills what is left of the tree and reaps the main
// process.
func (c *serverConn) run(ctx context.Context, id, cmd string, res *result) error {
	p, err := session.Start(session.Spec{Command: cmd, ID: id})
	if err != nil {
		res.startErr = err
		res.cut(fmt.Sprintf("legacy: cannot run the command: %v", err))
		return nil
	}
	defer p.Close()
	p.Stdin().Close() // the protocol has no stdin: give the command EOF
	drained := res.collect(p)
	err = c.watch(ctx, p, res, drained)
	p.Close() // releases the pipes, so the collectors end even if a process survived
	<-drained
	res.status = p.Wait()
	return err
}

// watch waits until the output is drained and the main process has
// exited, or ends the command early: the client left, it ran too long, its
// output hit the limit, or its main process exited PipeDrainGrace ago while
// a background child holds the pipes. Bytes the client sends meanwhile are
// the next command.
func (c *serverConn) watch(ctx context.Context, p *session.Process, res *result, drained <-chan struct{}) error {
	timeout := time.NewTimer(c.s.commandTimeout())
	defer timeout.Stop()
	exited := p.Done()
	var grace <-chan time.Time
	for drained != nil || exited != nil {
		select {
		case <-drained:
			drained = nil
		case <-exited:
			exited, grace = nil, time.After(PipeDrainGrace)
		case <-grace:
			return nil
		case <-res.trouble:
			return nil
		case <-timeout.C:
			res.timedOut = true
			res.cut(fmt.Sprintf("legacy: command killed after %v", c.s.commandTimeout()))
			return nil
		case b, ok := <-c.chunks:
			if !ok {
				return errClientLeft
			}
			if err := c.takeEarly(b); err != nil {
				return err
			}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// reply sends the prefix, the header with the body's real MD5 and the
// exit status, and the body: stdout, stderr, and the note if the output
// was cut, transcoded when Encoding says so. It returns the body bytes
// sent. The body is read twice, once for its MD5 and size and once to
// send it; transcoding is deterministic, so both passes see the same
// bytes without holding a transcoded copy.
func (c *serverConn) reply(res *result) (int64, error) {
	h := md5.New()
	size, err := io.Copy(h, c.encoded(res.body()))
	if err != nil {
		return 0, fmt.Errorf("legacy: reading spooled output: %w", err)
	}
	code, sig := res.exit()
	hdr := Header{MD5: hex.EncodeToString(h.Sum(nil)), TotalSize: size, ExitCode: &code, Signal: sig}
	if c.st.encoding == EncodingGBK {
		hdr.Encoding = EncodingGBK
	}
	w := stallWriter{nc: c.nc, d: writeStallTimeout}
	if _, err := w.Write(encodeHeader(hdr)); err != nil {
		return 0, fmt.Errorf("legacy: sending the reply header: %w", err)
	}
	sent, err := io.Copy(w, c.encoded(res.body()))
	if err != nil {
		return sent, fmt.Errorf("legacy: sending the reply body: %w", err)
	}
	return sent, c.nc.SetWriteDeadline(time.Time{})
}

// encoded returns body as the client is sent it: unchanged, or
// transcoded to GBK.
func (c *serverConn) encoded(body io.Reader) io.Reader {
	if c.st.encoding == EncodingGBK {
		return transform.NewReader(body, toLessonGBK{})
	}
	return body
}

// logRun records the command, its exit status and how it ended.
func (c *serverConn) logRun(cmd string, res *result, err error, took time.Duration) {
	if len(cmd) > logCommandMax {
		cmd = cmd[:logCommandMax] + "..."
	}
	attrs := []any{"command", cmd, "took", took.Round(time.Millisecond)}
	switch {
	case res.startErr != nil:
		c.log.Warn("legacy command did not start", append(attrs, "err", res.startErr)...)
	case err != nil:
		c.log.Info("legacy command killed", append(attrs, "status", res.status.String(), "reason", err.Error())...)
	default:
		attrs = append(attrs, "status", res.status.String(), "stdout", res.stdout.Size(), "stderr", res.stderr.Size())
		if note := res.noteText(); note != "" {
			attrs = append(attrs, "cut", strings.TrimSpace(note))
		}
		c.log.Info("legacy command", attrs...)
	}
}

// stallWriter writes to nc in pieces, each within d, so a slow but live
// reader is served and a stalled one times out.
type stallWriter struct {
	nc net.Conn
	d  time.Duration
}

func (w stallWriter) Write(p []byte) (int, error) {
	var done int
	for len(p) > 0 {
		piece := p[:min(len(p), bodyChunk)]
		if err := w.nc.SetWriteDeadline(time.Now().Add(w.d)); err != nil {
			return done, err
		}
		n, err := w.nc.Write(piece)
		done += n
		if err != nil {
			return done, err
		}
		p = p[n:]
	}
	return done, nil
}

// result is one command's output and status. The collector goroutines
// write stdout and stderr; the handler reads them only after both ended.
type result struct {
	stdout, stderr *spool
	status         session.Status
	startErr       error
	timedOut       bool         // CommandTimeout killed it (set by the handler)
	budget         atomic.Int64 // bytes that may still be kept
	stopped        atomic.Bool  // set by cut: keep nothing more

	mu      sync.Mutex    // mu guards note
	note    string        // why the output is incomplete, sent after stderr
	trouble chan struct{} // closed by the first cut
}

func newResult() *result {
	r := &result{
		stdout:  newSpool(memSpoolLimit),
		stderr:  newSpool(memSpoolLimit),
		trouble: make(chan struct{}),
	}
	r.budget.Store(MaxBodySize - noteRoom)
	return r
}

// exit is the exit code and signal name the reply header and the audit
// record carry. Ends that are not a plain exit have the codes of the
// rexec protocol's exit message (docs/PROTOCOL.md §4.4), so that `rexec
// legacy` and `rexec run` exit alike: a command that could not start,
// one killed by CommandTimeout, a failed wait, and 128+N for signal N as
// a shell's $? has it.
func (r *result) exit() (code int, signal string) {
	if r.status.Signal != 0 {
		signal = signalName(r.status.Signal)
	}
	switch {
	case r.startErr != nil:
		return outcome.ExitCannotStart, ""
	case r.timedOut:
		return outcome.ExitTimedOut, signal
	case r.status.Err != nil:
		return outcome.ExitFailure, ""
	case r.status.Signal != 0:
		return outcome.SignalStatus(int(r.status.Signal)), signal
	}
	return r.status.Code, ""
}

// collect starts draining the command's stdout and stderr concurrently,
// so neither pipe can fill and block the command; the returned channel
// closes once both reached EOF (or failed).
func (r *result) collect(p *session.Process) <-chan struct{} {
	var wg sync.WaitGroup
	wg.Go(func() { r.drain(p.Stdout(), r.stdout) })
	wg.Go(func() { r.drain(p.Stderr(), r.stderr) })
	drained := make(chan struct{})
	go func() {
		wg.Wait()
		close(drained)
	}()
	return drained
}

// drain reads src to the end, keeping what the budget allows in dst.
func (r *result) drain(src io.Reader, dst *spool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.keep(dst, buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// keep appends p to dst within the budget; past it, or when dst fails, it
// cuts the output (the watcher then kills the tree).
func (r *result) keep(dst *spool, p []byte) {
	if r.stopped.Load() {
		return
	}
	if left := r.budget.Add(-int64(len(p))); left < 0 {
		p = p[:max(0, int64(len(p))+left)]
		r.cut(fmt.Sprintf("legacy: output cut at %d bytes", MaxBodySize-noteRoom))
	}
	if _, err := dst.Write(p); err != nil {
		r.cut("legacy: output cut: " + err.Error())
	}
}

// cut records why the output is incomplete (the first reason wins) and
// tells the watcher. Safe from any goroutine.
func (r *result) cut(why string) {
	r.stopped.Store(true)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.note != "" {
		return
	}
	r.note = why[:min(len(why), noteRoom-2)] + "\n"
	close(r.trouble)
}

func (r *result) noteText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.note
}

// body returns a fresh reader over the whole reply body. The note starts
// on a line of its own when there is output before it.
func (r *result) body() io.Reader {
	note := r.noteText()
	if note != "" && r.stdout.Size()+r.stderr.Size() > 0 {
		note = "\n" + note
	}
	return io.MultiReader(r.stdout.Reader(), r.stderr.Reader(), strings.NewReader(note))
}

// close removes the spools' temporary files.
func (r *result) close() {
	r.stdout.Close()
	r.stderr.Close()
}
