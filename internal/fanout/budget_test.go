package fanout

import (
	"errors"
	"testing"
)

func TestParseBudget(t *testing.T) {
	tests := []struct {
		in          string
		set         bool
		floor, ceil int // of 25 hosts
	}{
		{"", false, 0, 0},
		{"0", true, 0, 0},
		{"3", true, 3, 3},
		{"10%", true, 2, 3},
		{"100%", true, 25, 25},
		{"0%", true, 0, 0},
		{"4%", true, 1, 1},
	}
	for _, tt := range tests {
		b, err := ParseBudget(tt.in)
		if err != nil || b.IsSet() != tt.set || b.Floor(25) != tt.floor || b.Ceil(25) != tt.ceil || b.String() != tt.in {
			t.Errorf("ParseBudget(%q) = set %v floor %d ceil %d %q, %v; want %v %d %d",
				tt.in, b.IsSet(), b.Floor(25), b.Ceil(25), b.String(), err, tt.set, tt.floor, tt.ceil)
		}
	}
	for _, in := range []string{"-1", "x", "10 %", "101%", "%", "1.5", "+3", "03", "99999999999999999999"} {
		if _, err := ParseBudget(in); !errors.Is(err, ErrBadBudget) {
			t.Errorf("ParseBudget(%q) error = %v, want ErrBadBudget", in, err)
		}
	}
}
