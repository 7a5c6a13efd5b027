// Package legacy speaks the plain protocol of the network-programming
// lesson rexec grew from (SPEC §6), so the lesson's own Python client works
// against our server and our client works against the lesson's server.
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
// sent after the previous reply. The exit status is not carried: the
// protocol has no field for it, so Server logs it instead.
//
// Because commands are not framed, Server decides where one ends by time:
// it takes what has arrived, then keeps reading while more bytes follow
// within QuietWindow, up to MaxCommandSize (see Server). A client that
// waits for each reply before sending the next command, as the lesson's
// does, is never misread.
//
// # What it provides
//
//   - Server: serves many connections at once, runs each command as its own
//     process tree through internal/session, reads stdout and stderr
//     concurrently, spools big output to a temporary file, sends the real
//     MD5, kills the tree when the client leaves, and reaps it.
//   - Client and Conn: one command per call or the lesson's ">>: " prompt
//     loop; every read is exact, every size is bounded before allocating,
//     the MD5 and size are checked, and output is decoded as UTF-8, GBK or
//     left raw.
//   - CheckListenAddr: the guard the CLI uses for --legacy-listen.
//
// It is unauthenticated plaintext: anyone who can reach the listener runs
// commands as the daemon's user and sees their output. Listen on loopback
// only unless the network is trusted (CheckListenAddr enforces this).
//
// It sits beside internal/server and below internal/cli, and imports only
// internal/session from this module.
package legacy
