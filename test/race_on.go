//go:build race

package test

// raceEnabled: binaries built for the tests get the race detector too.
const raceEnabled = true
