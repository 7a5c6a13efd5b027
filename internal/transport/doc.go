// Package transport provides rexec's TLS 1.3 configurations: both ends
// present a self-signed X.509 certificate for their ed25519 identity, and
// trust rests only on the pinned public keys, never on certificate
// chains, names or validity dates.
//
// The server requires a client certificate but only checks its shape
// during the handshake (exactly one ed25519 certificate); it authorizes
// PeerKey against authorized_keys afterwards, so that it can tell the
// client clearly why it was refused. The client checks the server's key
// during the handshake through a caller-supplied verify function
// (normally auth.KnownHosts.Check); the error that function returns comes
// back out of tls.Conn.Handshake unchanged, for errors.As.
//
// Session resumption is allowed (PROTOCOL.md §1.2). Both checks above run
// on resumed connections too, on the keys of the original full handshake;
// the client creates its certificate only when a full handshake asks for
// it, so a resumed connection signs nothing.
//
// transport sits above internal/auth and below the server and client
// packages; it imports only auth.
package transport
