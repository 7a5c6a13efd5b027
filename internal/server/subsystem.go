package server

import (
	"errors"
	"fmt"
	"io"

	"github.com/pkg/sftp"

	"github.com/rexec-dev/rexec/internal/auth"
	"github.com/rexec-dev/rexec/internal/protocol"
)

// Subsystems (PROTOCOL.md §4.2.4, docs/SECURITY.md "Subsystems"): an exec
// naming a subsystem runs a program the server chooses, as a session like
// any other: as the connection's account, in its cgroup, with start and
// end audit records, under the key's options. The one subsystem is sftp,
// served by the daemon's own binary started as SFTPServerArg, so that an
// account's paths are only ever opened by a process with the account's
// ids, never by the daemon.

// SFTPServerArg is the hidden command line word that makes the rexec
// binary an SFTP server on its standard input and output (ServeSFTP).
const SFTPServerArg = "__sftp-server"

// subsystemSFTP is the name ssh's -s sftp asks for.
const subsystemSFTP = "sftp"

// subsystemPolicy applies the key's options to a subsystem request: a
// forced command replaces it, as sshd does (REXEC_ORIGINAL_COMMAND names
// the subsystem); a key that may not transfer files is refused sftp; an
// allow= key runs listed programs only. It returns the request to run
// (with Argv set to the subsystem's program) or a denial, as applyPolicy.
func subsystemPolicy(o *auth.KeyOptions, req protocol.Exec) (protocol.Exec, string) {
	name := req.Subsystem
	if o.HasCommand {
		req.Subsystem, req.Command, req.Argv = "", o.Command, nil
		req.Env = withEnv(req.Env, OriginalCommandVar+"="+name)
		return req, ""
	}
	if name != subsystemSFTP {
		return req, fmt.Sprintf("subsystem: %q is not served here (the one subsystem is sftp)", name)
	}
	if o.NoFileTransfer {
		return req, "no-file-transfer: this key may not use the sftp subsystem (a line with command=, allow= or " +
			"restrict transfers no files unless it also says file-transfer)"
	}
	if len(o.Allow) > 0 {
		return req, "allow=: this key runs listed programs only, not the sftp subsystem"
	}
	req.Argv, req.PTY = []string{selfExe, SFTPServerArg}, false
	return req, ""
}

// ServeSFTP is the sftp subsystem's process: an SFTP server (version 3,
// OpenSSH's extensions) on r and w, with the process's own ids, umask and
// working directory (the account's home), until the client closes its
// end.
func ServeSFTP(r io.Reader, w io.WriteCloser) error {
	srv, err := sftp.NewServer(newSFTPStdio(r, w))
	if err != nil {
		return fmt.Errorf("sftp: %w", err)
	}
	defer srv.Close()
	if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("sftp: %w", err)
	}
	return nil
}
