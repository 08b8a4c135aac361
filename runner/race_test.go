//go:build race

package runner

// raceEnabled: the race detector keeps shadow memory and per-goroutine
// history that it does not give back, so RSS says nothing about our leaks.
const raceEnabled = true
