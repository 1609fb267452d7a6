package scenario

// raceEnabled is set under -race (race_test.go).
var raceEnabled bool
