package bench

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, as every package of the module does, that the
// benchmarks leave no goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
