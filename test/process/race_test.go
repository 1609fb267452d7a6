//go:build race

package process

// Under the race detector the daemons run with it too.
func init() { buildFlags = append(buildFlags, "-race") }
