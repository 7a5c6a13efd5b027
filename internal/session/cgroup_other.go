//go:build !linux

package session

import "time"

// SweepCgroups removes nothing: session cgroups exist on Linux only.
func SweepCgroups(time.Duration) (int, error) { return 0, nil }

// StaleCgroupAge is the age from which SweepCgroups removes an empty
// session cgroup on Linux.
const StaleCgroupAge = time.Minute
