//go:build race

package flight

// raceEnabled says that the race detector is on: tests that move a lot of
// data do less of it, since it runs them about 25 times slower.
const raceEnabled = true
