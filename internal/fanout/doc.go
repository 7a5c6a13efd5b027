// Package fanout runs one command on many hosts (rexec run with several
// HOSTs or --hosts FILE, docs/CLI.md §7), or any other Job, such as rexec cp's
// upload to many hosts: it expands pdsh-style host lists,
// connects to at most Parallel hosts at a time through package client,
// and reports every host's typed outcome through an output mode (prefix,
// group or json) that never tears a line and never lets a timeout or a
// dropped connection pass for success.
//
// It sits between the CLI, which reads flags and files and builds the
// client.Config, and package client, which knows one host. It never reads
// flags, the environment or the home directory.
//
// The pieces, one per file:
//   - hosts.go: host patterns (web[01-20], commas), --hosts files, -x,
//     and the hosts of cp's many-host destinations (Destinations).
//   - hostrange.go: the reverse, compressed host lists (web[01-03,07]).
//   - budget.go: "N" or "P%" counts for --batch and --max-failures.
//   - result.go: per-host Result (its outcome.Outcome), the exit status
//     and summary.
//   - runner.go: bounded concurrency, waves, failure budgets, cancellation,
//     the Job done on each connected host.
//   - lines.go: whole-line writers shared by many hosts.
//   - output.go: the Printer interface and the three output modes.
package fanout
