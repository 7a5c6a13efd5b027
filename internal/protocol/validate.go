package protocol

import (
	"fmt"
	"strings"
)

// Field bounds of PROTOCOL.md §4, checked when a message is decoded so that
// no code above this package sees an out-of-range value.
const (
	maxTermSize  = 65535         // rows and cols fit the kernel's winsize (uint16)
	maxTimeoutMS = 366 * 86400e3 // a year: longer is surely a mistake
	maxArgs      = 4096          // argv entries; the header limit bounds bytes
)

func validate(m Message) error {
	var err error
	switch m := m.(type) {
	case *Hello:
		switch {
		case m.Version < 1:
			err = fmt.Errorf("hello: version must be a positive integer")
		case len(m.User) > MaxUserLen || strings.ContainsRune(m.User, 0):
			err = fmt.Errorf("hello: user must be at most %d bytes without NUL", MaxUserLen)
		case len(m.Features) > MaxFeatures:
			err = fmt.Errorf("hello: more than %d features", MaxFeatures)
		default:
			err = validateHelloKeys(m.Keys)
		}
	case *Exec:
		err = validateExec(m)
	case *StdinAck:
		if m.Count < 0 || m.Count > StdinWindow {
			err = fmt.Errorf("stdin_ack: count %d outside [0, %d]", m.Count, StdinWindow)
		}
	case *Signal:
		if m.Signal == "" {
			err = fmt.Errorf("signal: name is required")
		}
	case *Resize:
		err = checkSize(m.Rows, m.Cols, 1)
	case *Error:
		if m.Code == "" {
			err = fmt.Errorf("error: code is required")
		}
	case *KeyOK:
		if len(m.Key) == 0 {
			err = fmt.Errorf("key_ok: key is required")
		}
	case *KeyProof:
		if len(m.Signature) == 0 {
			err = fmt.Errorf("key_proof: signature is required")
		}
	default:
		if err = validateJob(m); err == nil {
			err = validateTransfer(m)
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadField, err)
	}
	return nil
}

func validateExec(m *Exec) error {
	if len(m.Env) == 0 {
		m.Env = nil // "env":{} and no env mean the same; keep one form
	}
	if len(m.Argv) == 0 {
		m.Argv = nil
	}
	if len(m.SendEnv) == 0 {
		m.SendEnv = nil
	}
	switch {
	case m.Command != "" && len(m.Argv) > 0:
		return fmt.Errorf("exec: command and argv are exclusive")
	case m.Subsystem != "" && (m.Command != "" || len(m.Argv) > 0):
		return fmt.Errorf("exec: subsystem excludes command and argv")
	case len(m.Subsystem) > MaxSubsystemLen || !plainName(m.Subsystem):
		return fmt.Errorf("exec: subsystem %q is not a plain name", truncate(m.Subsystem))
	case len(m.Argv) > maxArgs:
		return fmt.Errorf("exec: more than %d arguments", maxArgs)
	case len(m.Argv) > 0 && m.Argv[0] == "":
		return fmt.Errorf("exec: argv[0] is empty")
	case m.TimeoutMS < 0 || m.TimeoutMS > maxTimeoutMS:
		return fmt.Errorf("exec: timeout_ms %d out of range", m.TimeoutMS)
	case m.Detach && (m.PTY || m.Resume):
		return fmt.Errorf("exec: detach excludes pty and resume")
	}
	if err := checkSize(m.Rows, m.Cols, 0); err != nil {
		return err
	}
	if hasNUL(m.Command) || hasNUL(m.Cwd) || hasNUL(m.Term) || anyNUL(m.Argv) {
		return fmt.Errorf("exec: NUL byte in a string")
	}
	for _, env := range []map[string]string{m.Env, m.SendEnv} {
		for k, v := range env {
			if k == "" || strings.ContainsAny(k, "=\x00") || hasNUL(v) {
				return fmt.Errorf("exec: invalid environment name %q", truncate(k))
			}
		}
	}
	return nil
}

// validateHelloKeys bounds hello.keys: at most MaxOfferedKeys, none
// empty.
func validateHelloKeys(keys [][]byte) error {
	if len(keys) > MaxOfferedKeys {
		return fmt.Errorf("hello: more than %d keys", MaxOfferedKeys)
	}
	for _, k := range keys {
		if len(k) == 0 {
			return fmt.Errorf("hello: an empty key")
		}
	}
	return nil
}

// plainName reports whether s is empty or made of letters, digits and
// "-_.@" only, the characters of subsystem names.
func plainName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.@", r)) {
			return false
		}
	}
	return true
}

func checkSize(rows, cols, min int) error {
	if rows < min || rows > maxTermSize || cols < min || cols > maxTermSize {
		return fmt.Errorf("terminal size %dx%d out of range", rows, cols)
	}
	return nil
}

func hasNUL(s string) bool { return strings.IndexByte(s, 0) >= 0 }

func anyNUL(ss []string) bool {
	for _, s := range ss {
		if hasNUL(s) {
			return true
		}
	}
	return false
}
