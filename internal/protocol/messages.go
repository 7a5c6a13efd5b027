package protocol

import "github.com/rexec-dev/rexec/internal/protocol/frame"

// Version is the protocol version this implementation speaks (PROTOCOL.md §5).
// A peer announcing a different version is refused with CodeUnsupportedVersion.
const Version = 1

// StdinWindow is how many stdin bytes a client may have sent but not yet
// seen acknowledged by StdinAck (PROTOCOL.md §4.3). It bounds the server's
// memory for a process that is slow to read its input, without letting the
// connection's single reader block on the process.
const StdinWindow = 2 << 20

// MaxDataBody is the largest body of one data frame (PROTOCOL.md §2.2),
// for senders that cut their own frames.
const MaxDataBody = frame.MaxBodySize

// Message type names as they appear in the "type" header field.
const (
	TypeHello    = "hello"
	TypeExec     = "exec"
	TypeStdin    = "stdin"
	TypeStdinEOF = "stdin_eof"
	TypeStdinAck = "stdin_ack"
	TypeSignal   = "signal"
	TypeResize   = "resize"
	TypeStdout   = "stdout"
	TypeStderr   = "stderr"
	TypeExit     = "exit"
	TypePing     = "ping"
	TypePong     = "pong"
	TypeError    = "error"
	TypeKeyOK    = "key_ok"
	TypeKeyProof = "key_proof"
)

// Message is any value of the types below. Type reports the wire name.
type Message interface{ Type() string }

// Hello opens the conversation in both directions (§4.1).
type Hello struct {
	Version  int    `json:"version"`
	Software string `json:"software,omitempty"`
	OS       string `json:"os,omitempty"`
	// Encoding is the sender's console output encoding, e.g. "utf-8" or "gbk".
	Encoding string `json:"encoding,omitempty"`
	// User is, from the client, the account its sessions should run as
	// (empty: the server's choice); from the server, the account they run
	// as (§4.1).
	User string `json:"user,omitempty"`
	// UserExplicit, from the client, says the user named User (user@, -l,
	// the client config) rather than the client taking its own login name
	// as ssh does: a server that serves one account only refuses another
	// explicit account but serves its own for a default one.
	UserExplicit bool `json:"user_explicit,omitempty"`
	// Features lists what the sender understands beyond §4 and §8
	// (FeatureJobs, FeatureResume): a peer sends the messages of a
	// feature only to a peer that listed it (PROTOCOL.md §5).
	Features []string `json:"features,omitempty"`
	// Keys, from the client, are further public keys (SSH wire encoding,
	// base64 in JSON) it can prove possession of besides its
	// certificate's, in order of preference: agent keys, ECDSA and RSA
	// keys, passphrase-protected ones (§1.4.1). A client that sends Keys
	// waits for the server's answer before sending a request.
	Keys [][]byte `json:"keys,omitempty"`
}

// MaxOfferedKeys bounds hello.keys, as sshd's MaxAuthTries bounds the
// keys one connection may try; each entry is bounded by the header limit.
const MaxOfferedKeys = 16

// KeyOK answers a hello whose certificate key is not authorized but one
// of whose Keys is: the server asks the client to prove that key
// (§1.4.1). Server → client, before the server's hello.
type KeyOK struct {
	Key []byte `json:"key"`
}

// KeyProof is the client's proof of the key KeyOK named: an SSH signature
// (string format, string blob) over the data of §1.4.1, which binds this
// TLS connection. Client → server, once, right after KeyOK.
type KeyProof struct {
	Signature []byte `json:"signature"`
}

// MaxUserLen bounds hello.user: account names are at most 32 bytes on
// Linux; anything longer is refused before it is looked up.
const MaxUserLen = 256

// Exec asks the server to run one command (§4.2). At most one of Command
// (a shell string) and Argv (exact argv) is set; neither starts the user's
// login shell, on a terminal with PTY (rexec shell) or reading commands from
// stdin without one (rexec shell < script).
type Exec struct {
	Command   string            `json:"command,omitempty"`
	Argv      []string          `json:"argv,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	Cwd       string            `json:"cwd,omitempty"`
	PTY       bool              `json:"pty,omitempty"`
	Term      string            `json:"term,omitempty"`
	Rows      int               `json:"rows,omitempty"`
	Cols      int               `json:"cols,omitempty"`
	TimeoutMS int64             `json:"timeout_ms,omitempty"`
	// Detach runs the command as a job that outlives the connection
	// (PROTOCOL.md §9.1): the server answers JobStarted and spools the
	// output. Only to a server that listed FeatureJobs.
	Detach bool `json:"detach,omitempty"`
	// Resume asks for a resumable session (§9.5): the server answers
	// ResumeToken before any output and holds the session for a while
	// when the connection drops. A server without FeatureResume ignores it.
	Resume bool `json:"resume,omitempty"`
	// SendEnv are variables offered as ssh's SendEnv and SetEnv offer
	// them: the server sets those its accept list admits and drops the
	// rest without a word, whatever the key (§4.2.1); Env, by contrast, is
	// refused for a restricted key when it sets a name not accepted.
	SendEnv map[string]string `json:"send_env,omitempty"`
	// Subsystem names a service to run instead of a command, as ssh's -s
	// does ("sftp"); it excludes Command and Argv (§4.2.4).
	Subsystem string `json:"subsystem,omitempty"`
}

// MaxSubsystemLen bounds exec.subsystem: names are short words.
const MaxSubsystemLen = 64

// Data carries stream bytes in the frame body: stdin (client to server),
// stdout and stderr (server to client). Body aliases the connection's read
// buffer and is valid only until the next Recv.
type Data struct {
	Stream string `json:"-"`
	Body   []byte `json:"-"`
}

// StdinEOF tells the server the client's stdin has ended (§4.3): the
// process's stdin is closed once the data before it has been written.
type StdinEOF struct{}

// StdinAck returns Count bytes of stdin window to the client (§4.3).
type StdinAck struct {
	Count int64 `json:"count"`
}

// Signal asks the server to deliver a signal, named without "SIG" (e.g.
// "INT", "TERM"), to the running command's process group (§4.3).
type Signal struct {
	Signal string `json:"signal"`
}

// Resize reports a new terminal size for a PTY session (§4.3).
type Resize struct {
	Rows int `json:"rows"`
	Cols int `json:"cols"`
}

// Exit ends a session: exactly one per exec (§4.4). Signal is set (name
// without "SIG", and its number) when the command died of a signal; TimedOut
// when the server killed it at the exec's timeout. Error explains a command
// that could not be started (Code is then 127, as a shell reports).
type Exit struct {
	Code         int    `json:"code"`
	Signal       string `json:"signal,omitempty"`
	SignalNumber int    `json:"signal_number,omitempty"`
	TimedOut     bool   `json:"timed_out,omitempty"`
	DurationMS   int64  `json:"duration_ms"`
	Error        string `json:"error,omitempty"`
}

// Ping asks for a Pong; either side may send it at any time (§4.5).
type Ping struct{}

// Pong answers Ping.
type Pong struct{}

// Error reports a failure with a stable Code (§6) and a human message.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

// Type implementations: the wire name of each message.
func (Hello) Type() string    { return TypeHello }
func (Exec) Type() string     { return TypeExec }
func (d Data) Type() string   { return d.Stream }
func (StdinEOF) Type() string { return TypeStdinEOF }
func (StdinAck) Type() string { return TypeStdinAck }
func (Signal) Type() string   { return TypeSignal }
func (Resize) Type() string   { return TypeResize }
func (Exit) Type() string     { return TypeExit }
func (Ping) Type() string     { return TypePing }
func (Pong) Type() string     { return TypePong }
func (Error) Type() string    { return TypeError }
func (KeyOK) Type() string    { return TypeKeyOK }
func (KeyProof) Type() string { return TypeKeyProof }

// newMessage returns a pointer to a zero message of the named type, or nil
// for a type this version does not know (a protocol error, §3).
func newMessage(typ string) Message {
	switch typ {
	case TypeHello:
		return &Hello{}
	case TypeExec:
		return &Exec{}
	case TypeStdin, TypeStdout, TypeStderr:
		return &Data{Stream: typ}
	case TypeStdinEOF:
		return &StdinEOF{}
	case TypeStdinAck:
		return &StdinAck{}
	case TypeSignal:
		return &Signal{}
	case TypeResize:
		return &Resize{}
	case TypeExit:
		return &Exit{}
	case TypePing:
		return &Ping{}
	case TypePong:
		return &Pong{}
	case TypeError:
		return &Error{}
	case TypeKeyOK:
		return &KeyOK{}
	case TypeKeyProof:
		return &KeyProof{}
	}
	if m := newJobMessage(typ); m != nil {
		return m
	}
	return newTransferMessage(typ)
}
