// Package transfer is the file logic of `rexec cp`, the same on both ends:
// the sender reads a file or tree and streams it (Source, Walk, SendFile);
// the receiver validates every name from the peer (CheckName), confines
// it to its destination with os.Root, never follows a symbolic link the
// peer could have planted, and writes each file to an exclusive temporary
// file beside the target that is verified (SHA-256), synced and renamed
// into place only when complete (Receiver, Receive). A partial temporary
// file survives a broken connection so that a later transfer can resume
// it after checking it chunk by chunk.
//
// It sits above package protocol, whose messages it speaks over a Wire,
// and below the client and the server, which own the connection.
package transfer
