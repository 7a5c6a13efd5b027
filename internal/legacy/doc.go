// Package legacy speaks the plain protocol of the network-programming
// lesson rexec grew from, so the lesson's own Python client works against
// our server and our client works against the lesson's server.
//
// # The protocol
//
// The client sends the bytes of one shell command, with no framing. The
// server runs it and answers with a 4-byte little-endian int32 holding the
// length of a JSON header, the header itself,
//
//	{"filename": "a.txt", "md5": "<hex md5 of the body>", "total_size": <body length>}
//
// and the body: everything the command wrote to stdout, then everything it
// wrote to stderr. A connection may carry several commands in turn, each
// sent after the previous reply. The lesson's header has no exit status;
// our server adds "exit_code" (and "signal" when a signal killed the
// command, "encoding" when it transcoded the output to GBK), which the
// lesson's client prints with the rest of the header and otherwise
// ignores (see Header).
//
// Because commands are not framed, Server decides where one ends by time:
// it takes what has arrived, then keeps reading while more bytes follow
// within QuietWindow, up to MaxCommandSize (see Server). A client that
// waits for each reply before sending the next command, as the lesson's
// does, is never misread.
//
// # What it provides
//
//   - Server: checks who the client is (the uid owning its socket, read
//     with internal/procnet, or its source address), refuses commands that
//     look like another protocol (an HTTP request from a web page, a TLS
//     ClientHello), writes start and end records to an internal/audit log,
//     serves many connections at once, runs each command as its own
//     process tree through internal/session, reads stdout and stderr
//     concurrently, spools big output to a temporary file, sends the real
//     MD5 and the exit status, optionally transcodes the output to GBK,
//     kills the tree when the client leaves, and reaps it.
//   - Client and Conn: one command per call or the lesson's ">>: " prompt
//     loop; every read is exact, every size is bounded before allocating,
//     the MD5 and size are checked, and output is decoded as UTF-8, GBK or
//     left raw.
//   - CheckListenAddr and CheckAllowFrom: the guards the CLI uses for
//     --legacy-listen.
//
// It is plaintext with no keys: on loopback the client's uid stands in
// for authentication, and from another host only the source address does.
// docs/SECURITY.md, "The legacy listener", says who can use it and what it
// refuses.
//
// It sits beside internal/server and below internal/cli, and imports
// internal/session, internal/audit and internal/procnet from this module.
package legacy
