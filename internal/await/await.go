// Package await lets tests wait for a condition without a wall-clock
// verdict: it polls until the condition holds, however long a busy
// machine takes, and fails only when the test's own time limit (go test
// -timeout) is about to end the run anyway, saying so, so that slowness
// is never reported as a wrong result.
package await

import (
	"fmt"
	"testing"
	"time"
)

// margin is how long before the test's deadline True gives up, leaving
// time to report and clean up.
const margin = 30 * time.Second

// maxPoll is the longest pause between two checks.
const maxPoll = 50 * time.Millisecond

// True waits until cond returns true, checking at once and then at
// growing intervals of up to 50 ms. If the test's deadline comes within
// 30 seconds first, it fails t with msgAndArgs (a format and its
// arguments, or a message) and stops the test.
func True(t testing.TB, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	deadline, bounded := deadlineOf(t)
	for poll := time.Millisecond; !cond(); poll = min(2*poll, maxPoll) {
		if bounded && time.Until(deadline) < margin {
			t.Fatalf("condition not met before the test's time limit: %s", message(msgAndArgs))
		}
		time.Sleep(poll)
	}
}

// deadlineOf returns t's deadline, if it is a *testing.T with one.
func deadlineOf(t testing.TB) (time.Time, bool) {
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		return d.Deadline()
	}
	return time.Time{}, false
}

// message formats testify-style message arguments.
func message(msgAndArgs []any) string {
	switch {
	case len(msgAndArgs) == 0:
		return "no message"
	case len(msgAndArgs) == 1:
		return fmt.Sprint(msgAndArgs[0])
	}
	if format, ok := msgAndArgs[0].(string); ok {
		return fmt.Sprintf(format, msgAndArgs[1:]...)
	}
	return fmt.Sprint(msgAndArgs...)
}
