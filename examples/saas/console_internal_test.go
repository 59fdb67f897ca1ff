package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		23456789 * time.Nanosecond:                        "23ms",
		1234567890 * time.Nanosecond:                      "1.2s",
		59*time.Second + 940*time.Millisecond:             "59.9s",
		time.Hour + 2*time.Minute + 3400*time.Millisecond: "1h2m3s",
	} {
		assert.Equal(t, want, humanDuration(d), d.String())
	}
}
