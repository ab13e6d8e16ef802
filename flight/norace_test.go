//go:build !race

package flight

// raceEnabled says that the race detector is on (see race_test.go).
const raceEnabled = false
