// Package outcome is rexec's one vocabulary for how a request ended: the
// outcome of a host (docs/CLI.md §7), which is the "outcome" field of
// fan-out JSON output and what every client error carries, and the exit
// statuses of the command line (docs/CLI.md §4) and of exit messages
// (docs/PROTOCOL.md §4.4).
//
// It imports nothing, so that every package that reports an end (client,
// fanout and the CLI, and server and legacy for the codes of an exit)
// names it with the same words and numbers.
package outcome

// Outcome is how one host's request ended. The values are the wire and
// JSON words of docs/CLI.md §7 and never change.
type Outcome string

// The outcomes. The first three come with the server's exit message; the
// next seven are failures of rexec itself (exit status ExitFailure) or a
// refusal by policy. Three keep a report exact instead of folding a case
// into a neighbour that would mislead: HostKeyUnknown (nothing pinned and
// no --accept-new: the key did not change, so it is no mismatch),
// ProtocolError (the peer is not a rexec server we understand) and
// Skipped (never started: a rollout stopped or was interrupted first). A
// copy (rexec cp to many hosts) ends Copied or CopyFailed instead of
// Exited: no command ran.
const (
	Exited          Outcome = "exited"
	Signaled        Outcome = "signaled"
	TimedOut        Outcome = "timed_out"
	ConnectFailed   Outcome = "connect_failed"
	AuthFailed      Outcome = "auth_failed"
	HostKeyUnknown  Outcome = "host_key_unknown"
	HostKeyMismatch Outcome = "host_key_mismatch"
	ConnectionLost  Outcome = "connection_lost"
	ProtocolError   Outcome = "protocol_error"
	Denied          Outcome = "denied"
	Skipped         Outcome = "skipped"
	Copied          Outcome = "copied"
	CopyFailed      Outcome = "copy_failed"
	// Interrupted is a detached job that was running when its daemon
	// stopped without ending it (a crash): nobody saw how it ended.
	Interrupted Outcome = "interrupted"
)

// Exit statuses (docs/CLI.md §4). A command that ran exits with its own
// code; these are the statuses rexec chooses itself, each as the tool
// users know it from does.
const (
	// ExitError is a command that failed at its own task rather than at
	// reaching a host: a file that could not be copied (cp, as scp), a
	// key not written or a host key not pinned (as ssh-keygen), a daemon
	// that could not start.
	ExitError = 1
	// ExitUsage is a command line rexec cannot run: a bad flag, operand
	// or host list, as most command lines.
	ExitUsage = 2
	// ExitTimedOut is a command killed by --timeout, as coreutils
	// timeout(1) reports it; also the code of a timed-out exit message.
	ExitTimedOut = 124
	// ExitCannotStart is the code of an exit message for a command that
	// could not be started, as a shell's "command not found".
	ExitCannotStart = 127
	// ExitSignalBase plus N is the status of a command killed by signal
	// N, as a shell's $? has it (see Signaled).
	ExitSignalBase = 128
	// ExitFailure is rexec's own failure: connect, authentication, host
	// key, protocol, a lost connection, a refusal by the key's options,
	// as ssh uses it.
	ExitFailure = 255
)

// SignalStatus is the exit status of a command killed by signal number n.
func SignalStatus(n int) int { return ExitSignalBase + n }
