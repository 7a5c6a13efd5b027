package fanout

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/rexec-dev/rexec/internal/outcome"
)

// MaxBufferedOutput is how much of each stream of each host the group and
// json modes keep: they must hold output until the host ends, and a host
// that prints gigabytes must not take the client's memory with it. Past
// it the rest is counted out and the result says "[output truncated]".
// The prefix mode streams and keeps nothing.
const MaxBufferedOutput = 16 << 20

// truncatedNote is what a result or a group block says when output was cut.
const truncatedNote = "[output truncated]"

// Output modes for --output (docs/CLI.md §7).
const (
	ModePrefix = "prefix"
	ModeGroup  = "group"
	ModeJSON   = "json"
)

// ErrBadMode is an --output value that is not a known mode.
var ErrBadMode = errors.New("fanout: output mode must be prefix, group or json")

// Printer receives every host's output and result; the three output
// modes implement it. Begin and End are called from the host goroutines,
// concurrently for different hosts, so implementations are safe for
// concurrent use; for one host, Begin happens before its writers are used,
// which happens before its End.
type Printer interface {
	// Begin is called when a host starts and returns where its stdout
	// and stderr go. Each writer is written from one goroutine.
	Begin(index int, host string) (stdout, stderr io.Writer)
	// End is called once per host when its output is complete, also for
	// a host that never began (skipped).
	End(r Result)
	// Flush prints what was held back; Run calls it once, at the end.
	Flush() error
}

// NewPrinter returns the Printer for mode ("" means prefix), writing to
// the local stdout and stderr.
func NewPrinter(mode string, stdout, stderr io.Writer) (Printer, error) {
	switch mode {
	case "", ModePrefix:
		return NewPrefixPrinter(stdout, stderr), nil
	case ModeGroup:
		return NewGroupPrinter(stdout, stderr), nil
	case ModeJSON:
		return NewJSONPrinter(stdout), nil
	}
	return nil, fmt.Errorf("%w, not %q", ErrBadMode, mode)
}

// PrefixPrinter is the prefix mode: "host: line" as lines complete, stdout
// lines on the local stdout and stderr lines on the local stderr; a line
// on stderr for each host that did not exit 0. Nothing is buffered but
// the current partial line.
type PrefixPrinter struct {
	stdout, stderr *SharedWriter

	mu   sync.Mutex // mu guards open
	open map[int][2]*LineWriter
}

// NewPrefixPrinter writes to stdout and stderr.
func NewPrefixPrinter(stdout, stderr io.Writer) *PrefixPrinter {
	return &PrefixPrinter{stdout: NewSharedWriter(stdout), stderr: NewSharedWriter(stderr),
		open: map[int][2]*LineWriter{}}
}

// Begin returns line writers prefixed with "host: ".
func (p *PrefixPrinter) Begin(index int, host string) (io.Writer, io.Writer) {
	w := [2]*LineWriter{NewLineWriter(p.stdout, host+": "), NewLineWriter(p.stderr, host+": ")}
	p.mu.Lock()
	p.open[index] = w
	p.mu.Unlock()
	return w[0], w[1]
}

// End flushes the host's last partial lines and reports a failure.
func (p *PrefixPrinter) End(r Result) {
	p.mu.Lock()
	w, ok := p.open[r.Index]
	delete(p.open, r.Index)
	p.mu.Unlock()
	if ok {
		_ = w[0].Close()
		_ = w[1].Close()
	}
	if !r.OK() {
		fmt.Fprintf(p.stderr, "rexec: %s: %s\n", r.Host, r.Describe())
	}
}

// Flush does nothing: prefix output is never held back.
func (p *PrefixPrinter) Flush() error { return nil }

// cappedBuffer keeps the first MaxBufferedOutput bytes written to it and
// counts the rest. It never fails a write: the run goes on, the loss is
// reported.
type cappedBuffer struct {
	buf       []byte
	truncated bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	room := MaxBufferedOutput - len(c.buf)
	if len(p) > room {
		c.buf = append(c.buf, p[:room]...)
		c.truncated = true
		return len(p), nil
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// buffers collects hosts' output for the buffered modes.
type buffers struct {
	mu sync.Mutex // mu guards m
	m  map[int]*[2]cappedBuffer
}

func (b *buffers) begin(index int) (io.Writer, io.Writer) {
	bufs := &[2]cappedBuffer{}
	b.mu.Lock()
	if b.m == nil {
		b.m = map[int]*[2]cappedBuffer{}
	}
	b.m[index] = bufs
	b.mu.Unlock()
	return &bufs[0], &bufs[1]
}

// take removes and returns a host's buffers (empty ones if it never began).
func (b *buffers) take(index int) *[2]cappedBuffer {
	b.mu.Lock()
	defer b.mu.Unlock()
	bufs := b.m[index]
	delete(b.m, index)
	if bufs == nil {
		bufs = &[2]cappedBuffer{}
	}
	return bufs
}

// Record is one line of json output: a host's typed outcome (docs/CLI.md §7).
// Every field is always present except that stdout and stderr are
// replaced by stdout_b64 and stderr_b64 (standard base64) when the output
// is not valid UTF-8, so the bytes survive exactly; exit_code and signal
// are null when there is none, error is null on success. Truncated is
// present only when output passed MaxBufferedOutput. Entries,
// FailedEntries and Bytes are present only for a copy (rexec cp): the
// entries (files, directories, links) written, those that failed, and
// the file bytes that crossed the wire.
type Record struct {
	Host       string          `json:"host"`
	Job        string          `json:"job,omitempty"`
	Outcome    outcome.Outcome `json:"outcome"`
	ExitCode   *int            `json:"exit_code"`
	Signal     *string         `json:"signal"`
	Stdout     *string         `json:"stdout,omitempty"`
	StdoutB64  []byte          `json:"stdout_b64,omitempty"`
	Stderr     *string         `json:"stderr,omitempty"`
	StderrB64  []byte          `json:"stderr_b64,omitempty"`
	DurationMS int64           `json:"duration_ms"`
	Error      *string         `json:"error"`
	Truncated  bool            `json:"truncated,omitempty"`

	Entries       *int   `json:"entries,omitempty"`
	FailedEntries *int   `json:"failed_entries,omitempty"`
	Bytes         *int64 `json:"bytes,omitempty"`
}

// NewRecord builds the json record of r with its captured output.
func NewRecord(r Result, stdout, stderr []byte, truncated bool) Record {
	rec := Record{Host: r.Host, Job: r.Job, Outcome: r.Outcome, DurationMS: r.Duration.Milliseconds(), Truncated: truncated}
	if r.Ran() {
		rec.ExitCode = &r.ExitCode
	}
	if r.Signal != "" {
		rec.Signal = &r.Signal
	}
	if r.Copy != nil {
		rec.Entries, rec.FailedEntries, rec.Bytes = &r.Copy.Entries, &r.Copy.Failed, &r.Copy.Bytes
	}
	rec.Stdout, rec.StdoutB64 = textOrBytes(stdout)
	rec.Stderr, rec.StderrB64 = textOrBytes(stderr)
	var msgs []string
	if r.Err != nil {
		msgs = append(msgs, errorText(r))
	}
	if truncated {
		msgs = append(msgs, truncatedNote)
	}
	if len(msgs) > 0 {
		s := strings.Join(msgs, " ")
		rec.Error = &s
	}
	return rec
}

// textOrBytes returns b as a string when it is UTF-8, else as bytes for
// base64: json would silently replace invalid bytes with U+FFFD.
func textOrBytes(b []byte) (*string, []byte) {
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	return nil, b
}

// JSONPrinter is the json mode: one Record per host per line on stdout,
// written when the host ends (so in completion order). Output is held
// per host up to MaxBufferedOutput per stream while the host runs.
type JSONPrinter struct {
	bufs buffers

	mu  sync.Mutex // mu guards enc and err
	enc *json.Encoder
	err error
}

// NewJSONPrinter writes records to w.
func NewJSONPrinter(w io.Writer) *JSONPrinter {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &JSONPrinter{enc: enc}
}

// Begin returns capped buffers for the host.
func (p *JSONPrinter) Begin(index int, _ string) (io.Writer, io.Writer) { return p.bufs.begin(index) }

// End writes the host's record as one line.
func (p *JSONPrinter) End(r Result) {
	b := p.bufs.take(r.Index)
	rec := NewRecord(r, b[0].buf, b[1].buf, b[0].truncated || b[1].truncated)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.enc.Encode(rec); err != nil && p.err == nil {
		p.err = err
	}
}

// Flush reports the first write error, if any.
func (p *JSONPrinter) Flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// GroupPrinter is the group mode, like pdsh | dshbak -c: hosts whose
// stdout and stderr are byte-identical are printed once, under a header
// naming them as a compressed host list. Identical outputs are kept once
// (a digest finds them), so memory grows with distinct outputs, each at
// most MaxBufferedOutput per stream. Lines for hosts that did not exit 0
// follow on stderr.
type GroupPrinter struct {
	stdout, stderr io.Writer
	bufs           buffers

	mu       sync.Mutex // mu guards the fields below
	groups   map[[sha256.Size]byte]*outputGroup
	failures []Result
}

// outputGroup is hosts with one output.
type outputGroup struct {
	first          int // smallest host index, for a stable order
	hosts          []indexed
	stdout, stderr []byte
	truncated      bool
}

// NewGroupPrinter writes blocks to stdout (and stderr for error output).
func NewGroupPrinter(stdout, stderr io.Writer) *GroupPrinter {
	return &GroupPrinter{stdout: stdout, stderr: stderr, groups: map[[sha256.Size]byte]*outputGroup{}}
}

// Begin returns capped buffers for the host.
func (p *GroupPrinter) Begin(index int, _ string) (io.Writer, io.Writer) { return p.bufs.begin(index) }

// End files the host's output under its group.
func (p *GroupPrinter) End(r Result) {
	b := p.bufs.take(r.Index)
	key := outputKey(b[0].buf, b[1].buf)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !r.OK() {
		p.failures = append(p.failures, r)
	}
	if len(b[0].buf) == 0 && len(b[1].buf) == 0 {
		return
	}
	g := p.groups[key]
	if g == nil {
		g = &outputGroup{first: r.Index, stdout: b[0].buf, stderr: b[1].buf}
		p.groups[key] = g
	}
	g.first = min(g.first, r.Index)
	g.hosts = append(g.hosts, indexed{r.Index, r.Host})
	g.truncated = g.truncated || b[0].truncated || b[1].truncated
}

// outputKey digests both streams, length-prefixed so that no split of
// bytes between stdout and stderr collides with another.
func outputKey(stdout, stderr []byte) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(stdout)))
	h.Write(n[:])
	h.Write(stdout)
	h.Write(stderr)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// Flush prints the groups in the order of their first host, then the
// failures.
func (p *GroupPrinter) Flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	groups := make([]*outputGroup, 0, len(p.groups))
	for _, g := range p.groups {
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b *outputGroup) int { return a.first - b.first })
	var errs []error
	for _, g := range groups {
		header := groupHeader(Compress(hostOrder(g.hosts)))
		if len(g.stdout) > 0 || len(g.stderr) == 0 {
			errs = append(errs, writeBlock(p.stdout, header, g.stdout, g.truncated))
		}
		if len(g.stderr) > 0 {
			errs = append(errs, writeBlock(p.stderr, header, g.stderr, g.truncated))
		}
	}
	slices.SortFunc(p.failures, func(a, b Result) int { return a.Index - b.Index })
	for _, r := range p.failures {
		_, err := fmt.Fprintf(p.stderr, "rexec: %s: %s\n", r.Host, r.Describe())
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// hostOrder returns the hosts in the order the user listed them, whatever
// order they ended in, so the same run prints the same header.
func hostOrder(hs []indexed) []string {
	slices.SortFunc(hs, func(a, b indexed) int { return a.index - b.index })
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.host
	}
	return out
}

// groupHeader is dshbak -c's header: the host list between two rules as
// wide as it (at least 16 dashes).
func groupHeader(hosts string) []byte {
	rule := strings.Repeat("-", max(16, utf8.RuneCountInString(hosts)))
	return []byte(rule + "\n" + hosts + "\n" + rule + "\n")
}

// writeBlock writes header and output, ending the output with a newline
// when it lacks one, and the truncation note when output was cut.
func writeBlock(w io.Writer, header, out []byte, truncated bool) error {
	var b bytes.Buffer
	b.Write(header)
	b.Write(out)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		b.WriteByte('\n')
	}
	if truncated {
		b.WriteString(truncatedNote + "\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}
