package await_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/saaskit/saaskit/internal/await"
)

func TestTrueWaitsForTheCondition(t *testing.T) {
	var checks atomic.Int32
	await.True(t, func() bool { return checks.Add(1) == 5 }, "five checks")
	assert.Equal(t, int32(5), checks.Load())
}

func TestTrueReturnsAtOnceWhenTheConditionHolds(t *testing.T) {
	calls := 0
	await.True(t, func() bool { calls++; return true })
	assert.Equal(t, 1, calls)
}

// nearDeadline is a test whose time limit is about to end.
type nearDeadline struct {
	testing.TB
	failed string
}

func (n *nearDeadline) Helper()                     {}
func (n *nearDeadline) Deadline() (time.Time, bool) { return time.Now().Add(time.Second), true }
func (n *nearDeadline) Fatalf(format string, args ...any) {
	n.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestTrueFailsOnlyAtTheTestsTimeLimit(t *testing.T) {
	n := &nearDeadline{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); await.True(n, func() bool { return false }, "%d deliveries", 3) }()
	<-done
	assert.Equal(t, "condition not met before the test's time limit: 3 deliveries", n.failed)
}
