package fanout

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadBudget is a --batch or --max-failures value that is neither a
// count nor a percentage.
var ErrBadBudget = errors.New("fanout: want N or P% (0-100)")

// Budget is a number of hosts given either as a count ("10") or as a
// share of the hosts ("25%"), as Salt's --batch-size takes it: a rollout
// written once works on fleets of any size. The zero value is "not set".
type Budget struct {
	n       int
	percent int
	isPct   bool
	set     bool
}

// ParseBudget parses "N" or "P%". The empty string is the unset Budget.
func ParseBudget(s string) (Budget, error) {
	if s == "" {
		return Budget{}, nil
	}
	num, pct := strings.CutSuffix(s, "%")
	v, err := strconv.Atoi(num)
	if err != nil || v < 0 || pct && v > 100 || num != strconv.Itoa(v) {
		return Budget{}, fmt.Errorf("%w: %q", ErrBadBudget, s)
	}
	if pct {
		return Budget{percent: v, isPct: true, set: true}, nil
	}
	return Budget{n: v, set: true}, nil
}

// IsSet reports whether the budget was given.
func (b Budget) IsSet() bool { return b.set }

// Floor is the budget as a count of total hosts, rounded down: P% of
// total allows failures while failures*100 <= P*total, as Ansible's
// max_fail_percentage does.
func (b Budget) Floor(total int) int {
	if !b.isPct {
		return b.n
	}
	return b.percent * total / 100
}

// Ceil is the budget as a count of total hosts, rounded up: a 10% batch of
// 5 hosts is 1 host, never 0.
func (b Budget) Ceil(total int) int {
	if !b.isPct {
		return b.n
	}
	return (b.percent*total + 99) / 100
}

// String is the budget as the user wrote it.
func (b Budget) String() string {
	switch {
	case !b.set:
		return ""
	case b.isPct:
		return strconv.Itoa(b.percent) + "%"
	}
	return strconv.Itoa(b.n)
}
