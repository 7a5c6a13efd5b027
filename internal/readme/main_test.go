package readme

import (
	"testing"

	"go.uber.org/goleak"
)

// raceEnabled is set under the race detector (race_test.go).
var raceEnabled bool

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
