// Package audit provides the daemon's tamper-evident audit log
// (docs/SECURITY.md, "The audit log and its anchor"): one JSON object per
// line, a "start" and an "end" record for every session, each record
// chained to the one before it, and optionally "checkpoint" records
// signed with the host key.
//
// # Format
//
// A record is a Record marshalled by encoding/json in struct field order
// (so the bytes are deterministic), on one line ending in '\n'. Two fields
// make the file tamper-evident:
//
//   - "prev" is the lowercase hex SHA-256 of the previous record's line,
//     byte for byte, without its newline. The first record of a file has
//     seq 1 and prev Genesis (64 zeros).
//   - "hash", always the last field, is the lowercase hex SHA-256 of the
//     record's own line with the hash value emptied: the line up to and
//     including `"hash":"`, followed by `"}`.
//
// So a changed byte anywhere in record k breaks record k's own hash (and,
// were the hash recomputed, record k+1's prev); a deleted or reordered
// record breaks seq and prev; a cut at the start of the file breaks the
// genesis rule; a record cut mid-line fails to parse. Verify names the first
// broken record as a *BrokenError.
//
// The file alone cannot show that records were cut from its end, nor that
// its end was rewritten with every hash after the change recomputed: both
// leave a shorter or different but valid chain. Two anchors kept outside
// the file close that gap:
//
//   - The head (Head: the last record's seq and hash field). The daemon
//     logs it to its journal while records are written and at shutdown
//     (Watch); `rexec audit head` prints it. VerifyWith with a Head fails
//     unless that record is still in the file with that hash, so a cut or
//     rewrite at or before a noted head is detected; only what was
//     written after the last noted head can vanish unseen.
//   - Checkpoints (Log.Checkpoint): records whose ed25519 signature by
//     the host key covers their seq and prev, so the whole chain before
//     them. VerifyWith with the public key fails on a checkpoint whose
//     signature does not verify, and reports the last one that does. A
//     rewrite must stop after the last honest checkpoint, or forge a
//     signature; the records after it are vouched for by a head alone.
//     Whoever can read the host key can sign: checkpoints prove a copy
//     of the log was written by the daemon, not that the host was not
//     taken over.
//
// # Writing
//
// Open appends to an existing log and continues its chain; it refuses a
// file whose last line is not an intact record (fail closed), and a file
// another process holds open for audit. Append writes each record with one
// write(2) and, by default, fsyncs it (SyncEvery). Any write or sync error
// fails the Log for good: every later Append returns it, so the daemon can
// refuse new sessions until an operator fixes the cause and the log is
// reopened. A record that could not be written whole is cut back off the
// file where the filesystem allows, so the file stays verifiable.
//
// # What a record holds
//
// A start record names the client key, its authorized_keys options in
// force, the command, and what it ran with: the environment the request
// set (RedactEnv hashes the values of names like *TOKEN*), the working
// directory and whether it had a terminal.
//
// audit imports nothing internal; the server fills Records, the cli's
// `rexec audit verify` calls VerifyWith and `rexec serve` runs Watch.
package audit
