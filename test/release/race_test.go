//go:build race

package release

func init() { raceEnabled = true }
