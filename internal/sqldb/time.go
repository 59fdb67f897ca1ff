package sqldb

import "time"

// Timestamp returns t in UTC truncated to microseconds: the form of an
// instant that both engines store and return unchanged, and that sorts as
// text in SQLite. Pass times through it before writing them.
func Timestamp(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}
