// Package protocol is rexec's wire vocabulary: one Go type per message of
// docs/PROTOCOL.md §4, their strict decoding from frames, the stable error
// codes, and Conn, which carries messages over a byte stream with one
// serialized writer and one reader.
//
// It sits above package frame (framing and limits) and below the client,
// server and transfer packages. It knows nothing of TLS, processes or files.
package protocol
