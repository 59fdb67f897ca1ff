package ofrep

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Responses are written by hand rather than through encoding/json's
// reflection: a bulk evaluation of a hundred flags spent as long in
// json.Marshal as in evaluating them. Objects (object flags' values)
// still go through json.Marshal.

var errNotFinite = errors.New("a number that JSON cannot hold (NaN or infinite)")

// appendResult appends r as a JSON object, its fields in OFREP's order,
// leaving out those that are empty.
func appendResult(b []byte, r *result) ([]byte, error) {
	b = append(b, '{')
	sep := false
	field := func(name string) {
		if sep {
			b = append(b, ',')
		}
		sep = true
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":`...)
	}
	str := func(name, v string) {
		if v != "" {
			field(name)
			b = appendString(b, v)
		}
	}
	str("key", r.Key)
	if r.Value != nil {
		field("value")
		var err error
		if b, err = appendValue(b, r.Value); err != nil {
			return b, err
		}
	}
	str("reason", r.Reason)
	str("variant", r.Variant)
	str("errorCode", r.ErrorCode)
	str("errorDetails", r.ErrorDetails)
	if len(r.Metadata) > 0 {
		var keys [8]string
		sorted := keys[:0]
		for k, v := range r.Metadata {
			if scalar(v) {
				sorted = append(sorted, k)
			}
		}
		if len(sorted) > 0 {
			slices.Sort(sorted)
			field("metadata")
			b = append(b, '{')
			for i, k := range sorted {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendString(b, k)
				b = append(b, ':')
				var err error
				if b, err = appendValue(b, r.Metadata[k]); err != nil {
					return b, err
				}
			}
			b = append(b, '}')
		}
	}
	return append(b, '}'), nil
}

// appendValue appends a flag value or a metadata value.
func appendValue(b []byte, v any) ([]byte, error) {
	switch t := v.(type) {
	case bool:
		return strconv.AppendBool(b, t), nil
	case string:
		return appendString(b, t), nil
	case float64:
		return appendFloat(b, t)
	case float32:
		return appendFloat(b, float64(t))
	case int:
		return strconv.AppendInt(b, int64(t), 10), nil
	case int64:
		return strconv.AppendInt(b, t, 10), nil
	case int32:
		return strconv.AppendInt(b, int64(t), 10), nil
	case uint:
		return strconv.AppendUint(b, uint64(t), 10), nil
	case uint64:
		return strconv.AppendUint(b, t, 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(t), 10), nil
	}
	data, err := json.Marshal(v)
	return append(b, data...), err
}

// appendFloat formats as encoding/json does: no exponent between 1e-6
// and 1e21, and a short exponent outside.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, errNotFinite
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1] // e-07 -> e-7
			b = b[:n-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string; invalid UTF-8 becomes
// U+FFFD, and U+2028 and U+2029 are escaped, as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
