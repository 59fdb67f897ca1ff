package retention

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestBucketKeys: every period has its own key space, and weeks are
// ISO 8601 weeks numbered within their ISO year.
func TestBucketKeys(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, time.UTC) }

	// ISO week 1 of 2026 starts on Monday 2025-12-29.
	week1 := keyOf(perWeek, day(2025, 12, 29), 0)
	assert.Equal(t, bucketKey{perWeek, 2026, 1}, week1)
	assert.Equal(t, week1, keyOf(perWeek, day(2026, 1, 4), 0))
	assert.NotEqual(t, week1, keyOf(perWeek, day(2026, 1, 5), 0))
	// 2026 has 53 ISO weeks; 2027-01-01 is in the last of them.
	assert.Equal(t, bucketKey{perWeek, 2026, 53}, keyOf(perWeek, day(2027, 1, 1), 0))

	// Same numbers, different periods: never the same key.
	jan := keyOf(perMonth, day(2026, 1, 1), 0)
	assert.Equal(t, bucketKey{perMonth, 2026, 1}, jan)
	assert.NotEqual(t, week1, jan)
	assert.NotEqual(t, keyOf(perDay, day(2026, 1, 1), 0), jan)
	assert.NotEqual(t, keyOf(perSnapshot, day(2026, 1, 1), 1), keyOf(perHour, day(2026, 1, 1), 1))

	// Hours and days are numbered within the year.
	assert.Equal(t, bucketKey{perHour, 2024, 365*24 + 23}, keyOf(perHour, time.Date(2024, 12, 31, 23, 59, 0, 0, time.UTC), 0))
	assert.Equal(t, bucketKey{perDay, 2024, 366}, keyOf(perDay, day(2024, 12, 31), 0))
}
