//go:build !race

package gdpr_test

const raceEnabled = false
