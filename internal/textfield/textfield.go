// Package textfield checks text that stores keep as text: SQLite and
// PostgreSQL TEXT columns refuse invalid UTF-8 and NUL bytes.
package textfield

import (
	"fmt"
	"reflect"
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

// Storable reports whether every s can be stored in, and compared with,
// a text column of both engines: valid UTF-8 without a NUL byte.
// PostgreSQL refuses anything else ("invalid byte sequence for encoding
// UTF8"), so a store checks identifiers that come from requests before
// it queries (an ID it cannot hold is simply not found) and text it is
// asked to store (refused as invalid, never silently replaced).
func Storable(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return false
		}
	}
	return true
}

// StorableValue reports whether every string in v (its fields, elements,
// map keys and values, at any depth) is Storable: encoding/json would
// otherwise replace invalid UTF-8 with U+FFFD without a word, and a store
// that keeps v as JSON would keep other text than it was given.
func StorableValue(v any) bool {
	return storableValue(reflect.ValueOf(v), 0)
}

func storableValue(v reflect.Value, depth int) bool {
	if depth > 32 || !v.IsValid() {
		return true
	}
	switch v.Kind() {
	case reflect.String:
		return Storable(v.String())
	case reflect.Pointer, reflect.Interface:
		return v.IsNil() || storableValue(v.Elem(), depth+1)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && !storableValue(v.Field(i), depth+1) {
				return false
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return true // bytes, not text
		}
		for i := range v.Len() {
			if !storableValue(v.Index(i), depth+1) {
				return false
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if !storableValue(it.Key(), depth+1) || !storableValue(it.Value(), depth+1) {
				return false
			}
		}
	}
	return true
}
