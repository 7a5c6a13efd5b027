package fanout

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/rexec-dev/rexec/internal/client"
)

func TestDestinations(t *testing.T) {
	dst := func(host, path string) client.Operand { return client.Operand{Remote: true, Host: host, Path: path} }
	tests := []struct {
		name  string
		dsts  []client.Operand
		want  map[string]string
		err   string
		errIs error
	}{
		{"one host", []client.Operand{dst("h", "/x")}, map[string]string{"h": "/x"}, "", nil},
		{"a range", []client.Operand{dst("web[1-2]", "/x")}, map[string]string{"web1": "/x", "web2": "/x"}, "", nil},
		{"several", []client.Operand{dst("a", "/x"), dst("b", "y")}, map[string]string{"a": "/x", "b": "y"}, "", nil},
		{"the same host twice, one path", []client.Operand{dst("web[1-2]", "/x"), dst("web2", "/x")},
			map[string]string{"web1": "/x", "web2": "/x"}, "", nil},
		{"two paths for a host", []client.Operand{dst("web[1-2]", "/x"), dst("web2", "/y")}, nil,
			`web2 is given two destinations, "/x" and "/y"`, nil},
		{"a bad pattern", []client.Operand{dst("web[2-1]", "/x")}, nil, "", ErrBadPattern},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Destinations(tt.dsts)
			switch {
			case tt.errIs != nil || tt.err != "":
				if err == nil || (tt.errIs != nil && !errors.Is(err, tt.errIs)) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Destinations = %v, %v; want an error %v %q", got, err, tt.errIs, tt.err)
				}
			case err != nil || !maps.Equal(got, tt.want):
				t.Fatalf("Destinations = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
