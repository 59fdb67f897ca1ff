package webhook

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestReleaseIsNotASuccess: a probe given back unattempted (its delivery
// was postponed) neither closes a half-open breaker nor clears a closed
// one's failures, as counting it a success would.
func TestReleaseIsNotASuccess(t *testing.T) {
	o := WorkerOptions{}.withDefaults()
	now := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	h := &endpointHealth{}
	for range o.BreakerFailures - 1 {
		h.record(false, now, o)
	}
	h.release()
	assert.True(t, h.record(false, now, o), "a release cleared the failures in a row")

	now = now.Add(o.BreakerOpen)
	for range o.BreakerProbes + 1 {
		ok, _ := h.admit(now, o.BreakerProbes)
		assert.True(t, ok, "the released probes are free again")
		h.release()
	}
	assert.Equal(t, breakerHalfOpen, h.state, "released probes closed the breaker")
	assert.Zero(t, h.successes)
}
