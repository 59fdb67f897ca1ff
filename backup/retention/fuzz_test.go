package retention_test

import (
	"errors"
	"testing"
	"time"

	"github.com/saaskit/saaskit/backup/retention"
)

// FuzzParseDuration: no input panics; an error wraps
// ErrInvalidDuration; what parses has parts in range, prints in a form
// that parses back to the same Duration, and is a valid within rule.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"1y2m3d4h", "1y1d1m", "13d23h", "9999y", "0d", "", "1w", "5", "d", "-1d", "1d1d",
		"1000001h", "1000000h1000000d1000000m1000000y", "007h", "1h ", "١d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := retention.ParseDuration(s)
		if err != nil {
			if !errors.Is(err, retention.ErrInvalidDuration) {
				t.Fatalf("%q: error %v does not wrap ErrInvalidDuration", s, err)
			}
			return
		}
		for _, part := range []int{d.Years, d.Months, d.Days, d.Hours} {
			if part < 0 || part > 1_000_000 {
				t.Fatalf("%q parsed as %+v", s, d)
			}
		}
		back, err := retention.ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("%q parsed as %+v, printed as %q, read back as %+v, %v", s, d, d.String(), back, err)
		}
		if d.IsZero() {
			return
		}
		newest := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		plan, err := retention.Apply([]retention.Snapshot{{ID: "new", Time: newest}, {ID: "old", Time: newest.AddDate(-1000, 0, 0)}},
			retention.Policy{Within: d}, retention.Options{})
		if err != nil || !plan.Decisions[0].Keep {
			t.Fatalf("%q: within %v does not keep the newest snapshot: %v", s, d, err)
		}
	})
}
