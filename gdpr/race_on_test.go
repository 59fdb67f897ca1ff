//go:build race

package gdpr_test

// raceEnabled: the race detector slows allocation-heavy tests tenfold.
const raceEnabled = true
