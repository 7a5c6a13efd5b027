package protocol

import (
	"fmt"
	"slices"
)

// Detached jobs and resumable sessions (PROTOCOL.md §9). A peer sends
// these types only to a peer whose hello listed the feature they belong
// to (Hello.Features): FeatureJobs for detached execs, jobs, job_info,
// attach, gap and kill; FeatureResume for resume, output_ack and abort.
// The server sends resume_token only when the exec asked for it.
const (
	TypeJobStarted  = "job_started"
	TypeJobs        = "jobs"
	TypeJobInfo     = "job_info"
	TypeJobsEnd     = "jobs_end"
	TypeAttach      = "attach"
	TypeAttached    = "attached"
	TypeGap         = "gap"
	TypeKill        = "kill"
	TypeKillOK      = "kill_ok"
	TypeResumeToken = "resume_token"
	TypeOutputAck   = "output_ack"
	TypeResume      = "resume"
	TypeResumed     = "resumed"
	TypeAbort       = "abort"
)

// Features a hello may list (§4.1): what the sender understands beyond
// the messages of §4 and §8.
const (
	FeatureJobs   = "jobs"
	FeatureResume = "resume"
)

// Error codes of jobs and resumption (§6). Neither is fatal: the
// connection stays usable.
const (
	// CodeUnknownJob: no job of this id that the key may see (it never
	// existed, it expired, or another key started it: the three are
	// told apart to nobody).
	CodeUnknownJob = "unknown_job"
	// CodeUnknownSession: the resume token names no session held for
	// this key (forged, used already, or its window passed).
	CodeUnknownSession = "unknown_session"
)

// Limits of the fields of this file (§9.7).
const (
	// MaxJobID bounds a job id: the server's are 16 hex digits; a
	// longer one is surely not one of them.
	MaxJobID = 64
	// TokenLen is the length of a resume token: 32 random bytes in hex.
	TokenLen = 64
	// MaxFeatures bounds the features a hello may list.
	MaxFeatures = 32
	// MaxJobCommand bounds job_info.command; a longer command is cut.
	MaxJobCommand = 1024
)

// JobStarted answers an exec with detach: the job runs, with this id.
type JobStarted struct {
	ID string `json:"id"`
}

// Jobs asks for the jobs of the connection's key: job_info each, then
// jobs_end.
type Jobs struct{}

// JobInfo describes one job. Stdout and Stderr count every byte the
// job wrote to each stream; StdoutStart and StderrStart are the first
// offsets still kept (bytes before them were dropped over the cap).
type JobInfo struct {
	ID          string `json:"id"`
	Command     string `json:"command,omitempty"`
	State       string `json:"state"`
	StartedMS   int64  `json:"started_ms,omitempty"`
	EndedMS     int64  `json:"ended_ms,omitempty"`
	Outcome     string `json:"outcome,omitempty"`
	Code        int    `json:"code,omitempty"`
	Signal      string `json:"signal,omitempty"`
	Error       string `json:"error,omitempty"`
	Stdout      int64  `json:"stdout,omitempty"`
	Stderr      int64  `json:"stderr,omitempty"`
	StdoutStart int64  `json:"stdout_start,omitempty"`
	StderrStart int64  `json:"stderr_start,omitempty"`
}

// Job states in JobInfo.State.
const (
	JobRunning = "running"
	JobEnded   = "ended"
)

// JobsEnd ends the answer to Jobs.
type JobsEnd struct{}

// Attach asks for a job's output from the given offsets of each stream,
// live while it runs, then its exit. Tail, instead of offsets, starts
// each stream that many bytes before its current end.
type Attach struct {
	ID     string `json:"id"`
	Stdout int64  `json:"stdout,omitempty"`
	Stderr int64  `json:"stderr,omitempty"`
	Tail   int64  `json:"tail,omitempty"`
}

// Attached answers Attach: the offsets the stdout and stderr frames that
// follow start at.
type Attached struct {
	Stdout int64 `json:"stdout,omitempty"`
	Stderr int64 `json:"stderr,omitempty"`
}

// Gap tells an attached reader that bytes [From, To) of Stream were
// dropped (the job passed its cap) and will never be sent.
type Gap struct {
	Stream string `json:"stream"`
	From   int64  `json:"from"`
	To     int64  `json:"to"`
}

// Kill sends Signal (default TERM) to every process of a job.
type Kill struct {
	ID     string `json:"id"`
	Signal string `json:"signal,omitempty"`
}

// KillOK answers Kill: the signal was sent (or the job had ended).
type KillOK struct{}

// ResumeToken makes the session of an exec with resume resumable: the
// token to present in Resume, how long the server holds the session
// after the connection drops, and how many output bytes per stream it
// keeps unacknowledged before the command is paused.
type ResumeToken struct {
	Token    string `json:"token"`
	WindowMS int64  `json:"window_ms"`
	Buffer   int64  `json:"buffer"`
}

// OutputAck tells the server how many bytes of each stream of the
// running session the client has received in all; the server forgets
// them. With Exit, sent once the exit has arrived, it acknowledges the
// exit too: until then the server holds the ended session for a resume,
// as an exit sent into a connection that was already cut never arrives.
type OutputAck struct {
	Stdout int64 `json:"stdout,omitempty"`
	Stderr int64 `json:"stderr,omitempty"`
	Exit   bool  `json:"exit,omitempty"`
}

// Resume takes a session back after a lost connection: its token and
// the bytes of each stream received in all.
type Resume struct {
	Token  string `json:"token"`
	Stdout int64  `json:"stdout,omitempty"`
	Stderr int64  `json:"stderr,omitempty"`
}

// Resumed answers Resume: the session's new token (the old one is spent),
// how many stdin bytes the server holds in all (the client sends again
// from there), how many of them it acknowledged in all, and whether it
// has the end of input.
type Resumed struct {
	Token      string `json:"token"`
	Stdin      int64  `json:"stdin,omitempty"`
	StdinAcked int64  `json:"stdin_acked,omitempty"`
	StdinEOF   bool   `json:"stdin_eof,omitempty"`
}

// Abort ends a resumable session at once, as a lost connection without
// resumption would: the client gives the command up.
type Abort struct{}

// Type implementations: the wire name of each message.
func (JobStarted) Type() string  { return TypeJobStarted }
func (Jobs) Type() string        { return TypeJobs }
func (JobInfo) Type() string     { return TypeJobInfo }
func (JobsEnd) Type() string     { return TypeJobsEnd }
func (Attach) Type() string      { return TypeAttach }
func (Attached) Type() string    { return TypeAttached }
func (Gap) Type() string         { return TypeGap }
func (Kill) Type() string        { return TypeKill }
func (KillOK) Type() string      { return TypeKillOK }
func (ResumeToken) Type() string { return TypeResumeToken }
func (OutputAck) Type() string   { return TypeOutputAck }
func (Resume) Type() string      { return TypeResume }
func (Resumed) Type() string     { return TypeResumed }
func (Abort) Type() string       { return TypeAbort }

// newJobMessage is newMessage for the types of this file.
func newJobMessage(typ string) Message {
	switch typ {
	case TypeJobStarted:
		return &JobStarted{}
	case TypeJobs:
		return &Jobs{}
	case TypeJobInfo:
		return &JobInfo{}
	case TypeJobsEnd:
		return &JobsEnd{}
	case TypeAttach:
		return &Attach{}
	case TypeAttached:
		return &Attached{}
	case TypeGap:
		return &Gap{}
	case TypeKill:
		return &Kill{}
	case TypeKillOK:
		return &KillOK{}
	case TypeResumeToken:
		return &ResumeToken{}
	case TypeOutputAck:
		return &OutputAck{}
	case TypeResume:
		return &Resume{}
	case TypeResumed:
		return &Resumed{}
	case TypeAbort:
		return &Abort{}
	}
	return nil
}

// HasFeature reports whether a hello lists feature f.
func (h Hello) HasFeature(f string) bool { return slices.Contains(h.Features, f) }

// validateJob checks the field ranges of the messages of this file.
func validateJob(m Message) error {
	switch m := m.(type) {
	case *JobStarted:
		return CheckJobID(m.ID)
	case *JobInfo:
		return CheckJobID(m.ID)
	case *Attach:
		if err := CheckJobID(m.ID); err != nil {
			return err
		}
		if m.Tail != 0 && (m.Stdout != 0 || m.Stderr != 0) {
			return fmt.Errorf("attach: tail and offsets are exclusive")
		}
		return checkOffsets("attach", m.Stdout, m.Stderr, m.Tail)
	case *Attached:
		return checkOffsets("attached", m.Stdout, m.Stderr)
	case *Gap:
		if m.Stream != TypeStdout && m.Stream != TypeStderr {
			return fmt.Errorf("gap: stream must be stdout or stderr")
		}
		if err := checkOffsets("gap", m.From, m.To); err != nil {
			return err
		}
		if m.From >= m.To {
			return fmt.Errorf("gap: empty range [%d, %d)", m.From, m.To)
		}
	case *Kill:
		return CheckJobID(m.ID)
	case *ResumeToken:
		if err := CheckToken(m.Token); err != nil {
			return err
		}
		if m.WindowMS < 0 || m.WindowMS > maxTimeoutMS || m.Buffer < 0 || m.Buffer > MaxLength {
			return fmt.Errorf("resume_token: window_ms or buffer out of range")
		}
	case *OutputAck:
		return checkOffsets("output_ack", m.Stdout, m.Stderr)
	case *Resume:
		if err := CheckToken(m.Token); err != nil {
			return err
		}
		return checkOffsets("resume", m.Stdout, m.Stderr)
	case *Resumed:
		if err := CheckToken(m.Token); err != nil {
			return err
		}
		if err := checkOffsets("resumed", m.Stdin, m.StdinAcked); err != nil {
			return err
		}
		if m.StdinAcked > m.Stdin {
			return fmt.Errorf("resumed: stdin_acked %d beyond stdin %d", m.StdinAcked, m.Stdin)
		}
	}
	return nil
}

// CheckJobID reports whether id can name a job: 1 to MaxJobID lower-case
// letters and digits.
func CheckJobID(id string) error {
	if id == "" || len(id) > MaxJobID {
		return fmt.Errorf("job id must be 1 to %d characters", MaxJobID)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return fmt.Errorf("job id %q: only lower-case letters and digits", truncate(id))
		}
	}
	return nil
}

// CheckToken reports whether t has the form of a resume token: TokenLen
// lower-case hex digits.
func CheckToken(t string) error {
	if len(t) != TokenLen {
		return fmt.Errorf("resume token must be %d hex digits", TokenLen)
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("resume token must be lower-case hex")
		}
	}
	return nil
}

// checkOffsets bounds byte offsets and counts to [0, MaxLength].
func checkOffsets(what string, offs ...int64) error {
	for _, o := range offs {
		if o < 0 || o > MaxLength {
			return fmt.Errorf("%s: offset %d out of range", what, o)
		}
	}
	return nil
}
