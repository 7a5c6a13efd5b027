// Package transfer is the file logic of `rexec cp`, the same on both ends:
// the sender reads a file or tree and streams it (Source, Walk, SendFile);
// the receiver validates every name from the peer (CheckName), confines
// it to its destination with os.Root, never follows a symbolic link the
// peer could have planted, and writes each file to an exclusive temporary
// file beside the target that is verified (the BLAKE3 chunk tree,
// Tree), synced and renamed into place only when complete (Receiver,
// ReceiveFile); a tree's small files arrive in batches that an Applier
// makes durable in groups. A partial temporary file survives a broken
// connection so that a later transfer can resume it after checking it
// chunk by chunk.
//
// It sits above package protocol, whose messages it speaks over a Wire,
// and below the client and the server, which own the connection.
package transfer
