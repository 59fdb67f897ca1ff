package testclock_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/saaskit/saaskit/internal/testclock"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := testclock.New(t0)
	assert.Equal(t, t0, c.Now())
	c.Advance(time.Hour)
	assert.Equal(t, t0.Add(time.Hour), c.Now())
}
