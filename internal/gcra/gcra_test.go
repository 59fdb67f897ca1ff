package gcra_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/gcra"
)

func TestOf(t *testing.T) {
	tests := []struct {
		rate      float64
		burst     int
		interval  int64
		tolerance int64
	}{
		{4, 3, 250_000, 500_000},
		{3, 1, 333_334, 0}, // rounded up: never faster than the rate
		{1e9, 10, 1, 9},    // at least a microsecond
		{0.125, 4, 8_000_000, 24_000_000},
	}
	for _, tt := range tests {
		p, err := gcra.Of(tt.rate, tt.burst)
		require.NoError(t, err)
		assert.Equal(t, gcra.Params{Interval: tt.interval, Tolerance: tt.tolerance}, p, "rate %v burst %d", tt.rate, tt.burst)
	}
	for _, bad := range []struct {
		rate  float64
		burst int
	}{{0, 1}, {-1, 1}, {math.NaN(), 1}, {math.Inf(1), 1}, {1, 0}, {1e-9, 1000}} {
		_, err := gcra.Of(bad.rate, bad.burst)
		assert.Error(t, err, "rate %v burst %d", bad.rate, bad.burst)
	}
}

func TestDuration(t *testing.T) {
	assert.Equal(t, 1500*time.Microsecond, gcra.Duration(1500))
	assert.Zero(t, gcra.Duration(-3))
}
