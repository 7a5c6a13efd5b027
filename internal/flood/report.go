package flood

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
)

// The report is JSON lines, one object per line, each with an "event"
// naming its type below. Times are milliseconds; a connection's times
// count from the moment its dial returned.
const (
	EventStart     = "start"
	EventConnected = "connected"
	EventClosed    = "closed"
	EventWarning   = "warning"
	EventSummary   = "summary"
)

// Start is the first line: what the run does, and the RLIMIT_NOFILE soft
// limit it has (0 where the platform has none).
type Start struct {
	Event  string `json:"event"`
	Addr   string `json:"addr"`
	From   string `json:"from,omitempty"`
	Mode   Mode   `json:"mode"`
	Conns  int    `json:"conns"`
	NoFile uint64 `json:"nofile"`
}

// Connected is written once every dial has finished. DialErrors counts
// failed dials by kind (see errorKind).
type Connected struct {
	Event      string         `json:"event"`
	Connected  int            `json:"connected"`
	DialFailed int            `json:"dial_failed"`
	DialErrors map[string]int `json:"dial_errors,omitempty"`
	ElapsedMS  float64        `json:"elapsed_ms"`
}

// Closed is one connection the server closed: AfterMS after it connected,
// having been sent Sent bytes (a write in flight at the close may be
// missing); How is "eof" (FIN), "reset" (RST) or "error". Conn numbers
// connections in dial order, from 0.
type Closed struct {
	Event   string  `json:"event"`
	Conn    int     `json:"conn"`
	AfterMS float64 `json:"after_ms"`
	How     string  `json:"how"`
	Sent    int64   `json:"sent"`
}

// Warning is trouble that does not stop the run.
type Warning struct {
	Event   string `json:"event"`
	Message string `json:"message"`
}

// Summary is the last line. StillOpen counts connections the server had
// not closed when the run ended (Hold or cancellation); the Close figures
// are over the ones it had, zero when none.
type Summary struct {
	Event          string         `json:"event"`
	Conns          int            `json:"conns"`
	Connected      int            `json:"connected"`
	DialFailed     int            `json:"dial_failed"`
	DialErrors     map[string]int `json:"dial_errors,omitempty"`
	ClosedByServer int            `json:"closed_by_server"`
	StillOpen      int            `json:"still_open"`
	CloseMinMS     float64        `json:"close_min_ms"`
	CloseMaxMS     float64        `json:"close_max_ms"`
	CloseP99MS     float64        `json:"close_p99_ms"`
	BytesSent      int64          `json:"bytes_sent"`
	ElapsedMS      float64        `json:"elapsed_ms"`
}

// Decode parses one report line into a Start, Connected, Closed, Warning
// or Summary.
func Decode(line []byte) (any, error) {
	var head struct {
		Event string `json:"event"`
	}
	if err := json.Unmarshal(line, &head); err != nil {
		return nil, fmt.Errorf("flood: report line: %w", err)
	}
	switch head.Event {
	case EventStart:
		return decodeAs[Start](line)
	case EventConnected:
		return decodeAs[Connected](line)
	case EventClosed:
		return decodeAs[Closed](line)
	case EventWarning:
		return decodeAs[Warning](line)
	case EventSummary:
		return decodeAs[Summary](line)
	}
	return nil, fmt.Errorf("flood: report line: unknown event %q", head.Event)
}

func decodeAs[T any](line []byte) (any, error) {
	var v T
	if err := json.Unmarshal(line, &v); err != nil {
		return nil, fmt.Errorf("flood: report line: %w", err)
	}
	return v, nil
}

// reporter writes report lines; mu makes each line one Write. The first
// write error is kept and later lines are dropped.
type reporter struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

func (r *reporter) emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic("bug: flood: report line does not marshal: " + err.Error())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		_, r.err = r.w.Write(append(b, '\n'))
	}
}

// errorKind names a dial error for Summary.DialErrors.
func errorKind(err error) string {
	var ne net.Error
	var errno syscall.Errno
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &errno):
		return errno.Error()
	}
	return "other"
}

// closeKind names how the server ended a connection, from the error that
// ended our read.
func closeKind(err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return "eof"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	}
	return "error"
}
