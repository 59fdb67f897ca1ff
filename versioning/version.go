package versioning

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidVersion means a version string is neither a date version
// (2024-01-15, optionally named: 2024-09-30.acacia) nor a major version
// (v1, v2).
var ErrInvalidVersion = errors.New("versioning: invalid version")

// Version is one version of an API. Versions of one API are all dates or
// all majors, and compare by date or number.
type Version struct {
	name  string    // as written
	date  time.Time // date versions
	major int       // major versions
}

// String returns the version as written.
func (v Version) String() string { return v.name }

// IsZero reports whether v is the zero Version.
func (v Version) IsZero() bool { return v.name == "" }

// Date returns the date of a date version, zero for a major version.
func (v Version) Date() time.Time { return v.date }

// maxVersionLength bounds a version string.
const maxVersionLength = 64

// ParseVersion parses a date version, YYYY-MM-DD with an optional
// ".name" of lowercase letters and digits (2024-09-30.acacia), or a major
// version, "v" and a number without leading zeros (v1, v12).
func ParseVersion(s string) (Version, error) {
	if len(s) == 0 || len(s) > maxVersionLength {
		return Version{}, fmt.Errorf("%w: %q: 1 to %d characters", ErrInvalidVersion, truncate(s), maxVersionLength)
	}
	if s[0] == 'v' {
		digits := s[1:]
		n, err := strconv.Atoi(digits)
		if err != nil || n < 1 || digits[0] == '0' || digits[0] == '+' || digits[0] == '-' {
			return Version{}, fmt.Errorf("%w: %q: a major version is v and a number from 1, as v1 or v2", ErrInvalidVersion, truncate(s))
		}
		return Version{name: s, major: n}, nil
	}
	date, label, _ := strings.Cut(s, ".")
	t, err := time.Parse(time.DateOnly, date)
	if err != nil || len(date) != len(time.DateOnly) {
		return Version{}, fmt.Errorf("%w: %q: a date version is YYYY-MM-DD, optionally .name", ErrInvalidVersion, truncate(s))
	}
	if strings.Contains(s, ".") && !validLabel(label) {
		return Version{}, fmt.Errorf("%w: %q: a version name is 1 to 32 lowercase letters or digits", ErrInvalidVersion, truncate(s))
	}
	return Version{name: s, date: t}, nil
}

func validLabel(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// truncate keeps error messages short whatever a client sends.
func truncate(s string) string {
	if len(s) > maxVersionLength {
		return s[:maxVersionLength] + "…"
	}
	return s
}

// Compare orders versions: negative when v is older than w. A date
// version's name does not count: 2024-09-30 and 2024-09-30.acacia are
// the same version.
func (v Version) Compare(w Version) int {
	if v.major != 0 || w.major != 0 {
		return v.major - w.major
	}
	return v.date.Compare(w.date)
}

// isMajor reports whether v is a major version.
func (v Version) isMajor() bool { return v.major != 0 }
