//go:build !linux

package session

import "time"

// SweepCgroups finds nothing: session cgroups exist on Linux only.
func SweepCgroups(time.Duration) (SweepResult, error) { return SweepResult{}, nil }
