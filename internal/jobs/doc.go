// Package jobs keeps the daemon's detached jobs on disk (docs/PROTOCOL.md
// §9, docs/SECURITY.md "Detached jobs"): for each job a directory with its
// metadata (who started it, what, how it ended) and a spool per output
// stream addressed by absolute byte offsets, so that a reader can come back
// at any offset while the job runs and after it ended.
//
// Spools are bounded: a job keeps at most its cap (both streams together)
// and the store at most its total; a job past its cap drops its oldest
// segment, and readers learn exactly which range went (Range reports the
// first byte still kept). Finished jobs expire after a TTL. Nothing here
// knows of processes or the network: the server writes what the job
// prints and records how it ended.
package jobs
