//go:build race

package readme

func init() { raceEnabled = true }
