//go:build race

package backup_test

// raceEnabled: the race detector slows chunking and hashing about
// tenfold, so soak-sized data runs only without it.
const raceEnabled = true
