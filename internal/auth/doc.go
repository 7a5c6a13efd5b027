// Package auth provides rexec's key material and trust files, all in
// OpenSSH formats so that existing tools and habits carry over:
//
//   - ed25519 identities stored as OpenSSH private keys ("id_ed25519",
//     "host_ed25519_key") with a ".pub" file beside them, refused when the
//     file is readable by others, as ssh(1) does;
//   - fingerprints printed exactly as `ssh-keygen -l` prints them;
//   - authorized_keys parsing with sshd(8) option syntax plus the
//     rexec-specific options no-file-transfer and allow=;
//   - known_hosts checking and pinning via golang.org/x/crypto/ssh/knownhosts.
//
// Only ssh-ed25519 keys are supported; other key types are skipped with a
// warning (authorized_keys) or refused with ErrUnsupportedKey (key files).
//
// auth sits at the bottom of the dependency graph: it imports nothing
// internal. internal/transport builds TLS configurations from an Identity,
// and the server and client use AuthorizedKeys and KnownHosts to decide
// whom to trust after the TLS handshake.
//
// All functions are safe for concurrent use; the types hold no hidden
// state. Files are re-read on every LoadAuthorizedKeys and KnownHosts call.
package auth
