//go:build race

package hashworker

// raceEnabled: the race detector's shadow memory makes a process's RSS say
// little about its Go heap.
const raceEnabled = true
