// Package audit provides the daemon's tamper-evident audit log (SPEC §4):
// one JSON object per line, a "start" and an "end" record for every
// session, each record chained to the one before it.
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
// The limits are those of any hash chain kept in one file: records cut from
// the end leave a shorter, valid chain, and someone who can rewrite the file
// can recompute every hash after a change. Ship the log off the host (or
// record the latest seq and hash elsewhere) to detect those.
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
// audit imports nothing internal; the server fills Records and the cli's
// `rexec audit verify` calls Verify.
package audit
