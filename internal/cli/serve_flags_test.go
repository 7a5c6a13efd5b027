package cli

import (
	"slices"
	"testing"

	"github.com/spf13/pflag"

	"github.com/rexec-dev/rexec/internal/config"
)

// TestServeFlagsMatchConfig: `rexec serve` defines a flag for every
// ServerFile field that has one (config.FlagNames) and no other flag
// besides its own, so the flags laid over the config file
// (config.Flags.Over) and the flags the user can type are the same set.
func TestServeFlagsMatchConfig(t *testing.T) {
	own := []string{"config", "check-config", "stdio"}
	var defined []string
	newServeCmd(&globals{}, Env{}).Flags().VisitAll(func(f *pflag.Flag) {
		if !slices.Contains(own, f.Name) {
			defined = append(defined, f.Name)
		}
	})
	want := config.FlagNames()
	slices.Sort(defined)
	slices.Sort(want)
	if !slices.Equal(defined, want) {
		t.Errorf("rexec serve defines %q besides its own,\nconfig.FlagNames() is %q", defined, want)
	}
}
