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
// Identities and host keys are ssh-ed25519: an Ed25519 key is the TLS
// certificate's key. A client may also be authorized by an ECDSA or RSA
// key, or a key held by ssh-agent, which it proves with a key proof over
// the TLS exporter (sshkeys.go, docs/PROTOCOL.md §1.4.1): authorized_keys
// accepts those lines too. A known_hosts line with another key type still
// makes its host known, so that a host pinned with an RSA key is reported
// as changed, not new.
//
// auth sits at the bottom of the dependency graph: it imports nothing
// internal. Key files of every type, passphrases, SSH signatures, the
// ssh-agent protocol and the parsing of foreign key blobs are
// golang.org/x/crypto/ssh's; the Ed25519 identity files of the fast path
// (LoadIdentity, WriteFiles), authorized_keys options and the known_hosts
// matcher are this package's own, and x/crypto/ssh's knownhosts package
// is the reference its tests compare with. internal/transport builds TLS
// configurations from an Identity, and the server and client use
// AuthorizedKeys and KnownHosts to decide whom to trust after the TLS
// handshake.
//
// All functions are safe for concurrent use; the types hold no hidden
// state. Files are re-read on every LoadAuthorizedKeys and KnownHosts call.
package auth
