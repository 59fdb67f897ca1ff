package retention

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrInvalidDuration is wrapped by every error ParseDuration returns.
var ErrInvalidDuration = errors.New("retention: invalid duration")

// maxDurationPart bounds each part of a Duration. It is far beyond any
// real retention window and keeps the arithmetic clear of overflow:
// a million hours is about 114 years, well inside time.Duration.
const maxDurationPart = 1_000_000

// Duration is a calendar duration, written as restic writes it:
// "1y2m3d4h" is one year, two months, three days and four hours. Unlike
// time.Duration, a month or a year is a calendar step, not a fixed
// number of hours, so "1m" before March 31 is March 3 (February 31
// normalized), exactly as time.Time.AddDate computes it.
type Duration struct {
	Years, Months, Days, Hours int
}

// ParseDuration parses a sequence of <number><unit> parts, units y
// (years), m (months), d (days) and h (hours), in any order, each unit
// at most once: "1y", "2m2h", "1y1d1m". Numbers are non-negative decimal
// integers up to 1,000,000. The error wraps ErrInvalidDuration and says
// what is wrong and where.
func ParseDuration(s string) (Duration, error) {
	var d Duration
	if s == "" {
		return d, fmt.Errorf("%w %q: empty (want parts like 1y2m3d4h)", ErrInvalidDuration, s)
	}
	seen := map[byte]bool{}
	for i := 0; i < len(s); {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return Duration{}, fmt.Errorf("%w %q: want a number at offset %d, got %q", ErrInvalidDuration, s, i, s[i:i+1])
		}
		digits := s[start:i]
		if i == len(s) {
			return Duration{}, fmt.Errorf("%w %q: number %s has no unit (want y, m, d or h)", ErrInvalidDuration, s, digits)
		}
		unit := s[i]
		i++
		n, err := strconv.Atoi(digits)
		if err != nil || n > maxDurationPart {
			return Duration{}, fmt.Errorf("%w %q: %s%c exceeds %d", ErrInvalidDuration, s, digits, unit, maxDurationPart)
		}
		var part *int
		switch unit {
		case 'y':
			part = &d.Years
		case 'm':
			part = &d.Months
		case 'd':
			part = &d.Days
		case 'h':
			part = &d.Hours
		default:
			return Duration{}, fmt.Errorf("%w %q: unknown unit %q after %s (want y, m, d or h)", ErrInvalidDuration, s, unit, digits)
		}
		if seen[unit] {
			return Duration{}, fmt.Errorf("%w %q: unit %q given twice", ErrInvalidDuration, s, unit)
		}
		seen[unit] = true
		*part = n
	}
	return d, nil
}

// String writes d the way restic does, the units always in the order
// y, m, d, h and zero parts left out, so "1y1d1m" prints as "1y1m1d".
// The zero Duration prints as "0d". ParseDuration reads it back.
func (d Duration) String() string {
	var b []byte
	for _, part := range []struct {
		n    int
		unit byte
	}{{d.Years, 'y'}, {d.Months, 'm'}, {d.Days, 'd'}, {d.Hours, 'h'}} {
		if part.n != 0 {
			b = strconv.AppendInt(b, int64(part.n), 10)
			b = append(b, part.unit)
		}
	}
	if len(b) == 0 {
		return "0d"
	}
	return string(b)
}

// IsZero reports whether d is the zero Duration, which disables the
// rule it is given to.
func (d Duration) IsZero() bool { return d == Duration{} }

// MarshalText writes d as String does, so a Duration can sit in JSON or
// YAML configuration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses text with ParseDuration.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// validate reports a part outside 0..maxDurationPart, which only a
// Duration built by hand can have.
func (d Duration) validate() error {
	for _, part := range []struct {
		n    int
		name string
	}{{d.Years, "Years"}, {d.Months, "Months"}, {d.Days, "Days"}, {d.Hours, "Hours"}} {
		if part.n < 0 || part.n > maxDurationPart {
			return fmt.Errorf("%s is %d (want 0 to %d)", part.name, part.n, maxDurationPart)
		}
	}
	return nil
}

// before returns t minus d: years, months and days as calendar steps in
// t's location, then the hours, as restic subtracts a keep-within
// duration.
func (d Duration) before(t time.Time) time.Time {
	return t.AddDate(-d.Years, -d.Months, -d.Days).Add(-time.Duration(d.Hours) * time.Hour)
}
