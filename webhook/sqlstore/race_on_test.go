//go:build race

package sqlstore_test

// raceEnabled: the race detector slows the pure-Go SQLite about thirtyfold.
const raceEnabled = true
