// Package textfield checks text that stores keep as text: SQLite and
// PostgreSQL TEXT columns refuse invalid UTF-8 and NUL bytes.
package textfield

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Check reports what is wrong with field's value v: empty when required,
// longer than limit bytes, not UTF-8, or holding a NUL byte.
func Check(field, v string, limit int, required bool) error {
	switch {
	case required && v == "":
		return fmt.Errorf("%s: must not be empty", field)
	case len(v) > limit:
		return fmt.Errorf("%s: must be at most %d bytes, is %d", field, limit, len(v))
	case !utf8.ValidString(v):
		return fmt.Errorf("%s: must be valid UTF-8", field)
	case strings.IndexByte(v, 0) >= 0:
		return fmt.Errorf("%s: must not contain NUL bytes", field)
	}
	return nil
}
