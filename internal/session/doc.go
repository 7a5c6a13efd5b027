// Package session runs one command on this host for the rexec daemon: the
// program or shell string, its process group (or, with a pseudo-terminal,
// its own session and controlling terminal), its stdin/stdout/stderr
// pipes, signals, window size, exit status, and — the hard part — killing
// everything it started, however it tried to escape.
//
// It sits below internal/server, which maps protocol requests onto Start,
// Signal, Resize, KillTree and Close; it knows nothing of the network and
// imports nothing internal.
//
// # Environment
//
// A session starts from HOME, USER, LOGNAME and SHELL of the daemon's
// account (/etc/passwd, login shell falling back to /bin/sh), PATH (the
// daemon's, else a standard default), the daemon's LANG, LANGUAGE and LC_*,
// and TERM for a PTY; Spec.Env overrides these; REXEC_SESSION=<id> is set
// last and cannot be overridden.
//
// # Kill strategy
//
// KillTree sends SIGTERM (and SIGHUP on a PTY), waits a grace period, then
// sends SIGKILL in rounds until nothing of the session is alive, at most
// grace+2s. It finds the session's processes in three ways, all at once:
//
//  1. The process group: the main process leads its own group (its own
//     session with a PTY), signalled with kill(-pgid). The main process is
//     not reaped until Close, so its pid, the group id, cannot be reused by
//     a stranger in the meantime.
//  2. A cgroup v2 per session (Linux, where the daemon may create one under
//     its own cgroup): the child is cloned straight into it
//     (CLONE_INTO_CGROUP), so a setsid or double-forked descendant stays
//     inside; cgroup.kill, or freeze + SIGKILL on kernels before 5.14, kills
//     all of it atomically. The cgroup is removed at Close. Its name
//     carries the daemon's pid and start time, so that the next daemon
//     can tell the cgroups of a daemon killed outright from those of one
//     still running, and kill only the former (SweepCgroups).
//  3. A /proc sweep (Linux): every live process whose environment carries
//     REXEC_SESSION=<id>, or whose group or session is the session's, and
//     all their descendants. It works without privileges and after
//     orphans reparented to init or to the daemon (see EnableSubreaper);
//     it misses only a process that both cleared its environment and left
//     the tree, which the cgroup catches.
//
// Process.Mechanism reports whether the cgroup is in use. On macOS only
// the process group is available; on Windows only the main process is
// killed (the package builds there and runs cmd.exe /c).
//
// EnableSubreaper makes the daemon the parent of orphaned descendants and
// reaps them without touching main processes, whose status Wait reports.
package session
