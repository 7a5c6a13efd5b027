// Package auth provides rexec's key material and trust files, all in
// OpenSSH formats so that existing tools and habits carry over:
//
//   - ed25519 identities stored as OpenSSH private keys ("id_ed25519",
//     "host_ed25519_key") with a ".pub" file beside them, refused when the
//     file is readable by others, as ssh(1) does;
//   - fingerprints printed exactly as `ssh-keygen -l` prints them;
//   - authorized_keys parsing with sshd(8) option syntax plus the
//     rexec-specific options no-file-transfer and allow=;
//   - known_hosts checking and pinning, with OpenSSH's hashed entries,
//     wildcards, negations and @revoked.
//
// Only ssh-ed25519 keys are supported; other key types are skipped with a
// warning (authorized_keys) or refused with ErrUnsupportedKey (key files).
// A known_hosts line with another key type still makes its host known, so
// that a host pinned with an RSA key is reported as changed, not new.
//
// auth sits at the bottom of the dependency graph: it imports nothing
// internal and, outside its tests, only the standard library. The key
// file encodings and the known_hosts reader are its own rather than
// golang.org/x/crypto/ssh's, because that package's initialization and
// the ciphers it links cost every short-lived `rexec run`; the tests keep
// x/crypto/ssh as the reference both are compared with. internal/transport
// builds TLS configurations from an Identity, and the server and client
// use AuthorizedKeys and KnownHosts to decide whom to trust after the TLS
// handshake.
//
// All functions are safe for concurrent use; the types hold no hidden
// state. Files are re-read on every LoadAuthorizedKeys and KnownHosts call.
package auth
