package tenancy

import (
	"errors"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits on tenant fields, so that one tenant cannot bloat every cache
// and row.
const (
	maxIDLen       = 64
	maxNameLen     = 200
	maxDomains     = 50
	maxSettings    = 200
	maxSettingLen  = 4096
	maxCSSVars     = 100
	maxCSSValueLen = 200
	maxURLLen      = 2048
	maxPlanLen     = 64
	maxDSNLen      = 4096
)

// Validate checks every field of t and returns all violations joined; each
// is a *FieldError wrapping ErrInvalid. When regions is non-empty,
// t.Region must be one of them.
func Validate(t *Tenant, regions []string) error {
	var errs []error
	add := func(field, rule string) { errs = append(errs, fieldErr(field, rule)) }

	if !validID(t.ID) {
		add("id", "must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'")
	}
	if !validLabel(t.Slug) || len(t.Slug) < 2 {
		add("slug", "must be 2 to 63 characters of a-z, 0-9 and '-', not starting or ending with '-'")
	}
	if t.Name == "" || len(t.Name) > maxNameLen || !printable(t.Name) {
		add("name", "must be 1 to 200 printable characters")
	}
	switch t.Status {
	case StatusActive, StatusSuspended, StatusDeleted:
	default:
		add("status", "must be active, suspended or deleted")
	}
	if len(t.Plan) > maxPlanLen || !isToken(t.Plan) {
		add("plan", "must be at most 64 characters of a-z, A-Z, 0-9, '_', '-' and '.'")
	}
	switch {
	case len(regions) > 0 && !slices.Contains(regions, t.Region):
		add("region", "must be one of "+strings.Join(regions, ", "))
	case len(t.Region) > maxPlanLen || !isToken(t.Region):
		add("region", "must be at most 64 characters of a-z, A-Z, 0-9, '_', '-' and '.'")
	}
	switch t.Isolation {
	case IsolationShared:
		if t.DSN != "" {
			add("dsn", "must be empty for shared isolation")
		}
	case IsolationDedicated:
		if t.DSN == "" || len(t.DSN) > maxDSNLen {
			add("dsn", "is required for dedicated isolation (at most 4096 bytes)")
		}
	default:
		add("isolation", "must be shared or dedicated")
	}
	if len(t.Domains) > maxDomains {
		add("domains", "must hold at most 50 domains")
	}
	for i, d := range t.Domains {
		if !ValidDomain(d) {
			add("domains["+strconv.Itoa(i)+"]", "must be a fully qualified lower-case domain name (punycode for IDN)")
		} else if slices.Contains(t.Domains[:i], d) {
			add("domains["+strconv.Itoa(i)+"]", "must not repeat "+d)
		}
	}
	if t.APIVersion != "" && !validAPIVersion(t.APIVersion) {
		add("api_version", "must be a date version YYYY-MM-DD (optionally .name, 1 to 32 lowercase letters or digits) or a major version v1, v2, ...")
	}
	if len(t.Settings) > maxSettings {
		add("settings", "must hold at most 200 entries")
	}
	for k, v := range t.Settings {
		if k == "" || len(k) > maxPlanLen || !isToken(k) {
			add("settings", "keys must be 1 to 64 characters of a-z, A-Z, 0-9, '_', '-' and '.'")
			break
		}
		if len(v) > maxSettingLen {
			add("settings."+k, "must be at most 4096 bytes")
		}
	}
	if err := checkOverrides(t.Settings); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, validateBranding(&t.Branding)...)
	return errors.Join(errs...)
}

func validateBranding(b *Branding) []error {
	var errs []error
	add := func(field, rule string) { errs = append(errs, fieldErr("branding."+field, rule)) }
	if len(b.Name) > maxNameLen || !printable(b.Name) {
		add("name", "must be at most 200 printable characters")
	}
	if b.LogoURL != "" && !validHTTPURL(b.LogoURL) {
		add("logo_url", "must be an absolute http or https URL of at most 2048 bytes")
	}
	if b.PrimaryColor != "" && !validColor(b.PrimaryColor) {
		add("primary_color", "must be #rgb, #rrggbb or #rrggbbaa")
	}
	if b.SecondaryColor != "" && !validColor(b.SecondaryColor) {
		add("secondary_color", "must be #rgb, #rrggbb or #rrggbbaa")
	}
	if len(b.Font) > maxCSSValueLen || !validFont(b.Font) {
		add("font", "must be at most 200 characters of letters, digits, spaces, ',', '-' and quotes")
	}
	if b.SupportEmail != "" {
		if a, err := mail.ParseAddress(b.SupportEmail); err != nil || a.Name != "" || a.Address != b.SupportEmail {
			add("support_email", "must be a single bare address like help@example.com")
		}
	}
	if len(b.CSSVars) > maxCSSVars {
		add("css_vars", "must hold at most 100 entries")
	}
	for k, v := range b.CSSVars {
		if !validCSSVarName(k) {
			add("css_vars", "names must be '--' followed by 1 to 64 characters of a-z, 0-9 and '-'")
			break
		}
		if len(v) > maxCSSValueLen || !validCSSValue(v) {
			add("css_vars."+k, "must be at most 200 characters without ';', '{', '}', '<', '>', '\\' or newlines")
		}
	}
	return errs
}

func validID(s string) bool {
	if s == "" || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// validLabel reports whether s is a lower-case DNS label: 1 to 63
// characters of a-z, 0-9 and '-', not starting or ending with '-'.
func validLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ValidDomain reports whether s is a lower-case fully qualified domain
// name: at least two labels, at most 253 characters, and a top-level
// label that is not all digits (so IP addresses are refused).
func ValidDomain(s string) bool {
	if len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !validLabel(l) {
			return false
		}
	}
	tld := labels[len(labels)-1]
	return strings.TrimLeft(tld, "0123456789") != ""
}

func validColor(s string) bool {
	if len(s) != 4 && len(s) != 7 && len(s) != 9 || s[0] != '#' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func validHTTPURL(s string) bool {
	// Characters that could end a CSS url() or an HTML attribute are
	// refused outright, so a logo URL is safe wherever it is placed.
	if len(s) > maxURLLen || strings.ContainsAny(s, "\"'()<>\\ \t\n\r") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil
}

// validCSSValue refuses what could end a declaration or a style block,
// open a comment, a string or a function such as url() or expression(),
// so branding cannot inject CSS, load resources or break out into HTML.
func validCSSValue(s string) bool {
	if strings.Contains(s, "/*") {
		return false
	}
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f || isBidiControl(r):
			return false
		case strings.ContainsRune(";{}<>\\()\"'", r):
			return false
		}
	}
	return true
}

// validFont: letters, digits, spaces, ',', '-' and quotes around family
// names.
func validFont(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune(" ,-'\"", rune(c)) {
			return false
		}
	}
	return true
}

// isBidiControl reports the invisible characters that reorder text
// (embeddings, overrides, isolates, marks): in a tenant's name they can
// make it display as another's.
func isBidiControl(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f || r == 0x061c
}

func validCSSVarName(s string) bool {
	name, ok := strings.CutPrefix(s, "--")
	return ok && len(name) <= 64 && validLabel(name)
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// isToken: empty or characters of a-z, A-Z, 0-9, '_', '-' and '.'.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd || isBidiControl(r) {
			return false
		}
	}
	return true
}

// validAPIVersion reports whether v is a version that package versioning
// parses (versioning.ParseVersion; its tests hold the two together): a
// major version "v" and a number from 1, or a date YYYY-MM-DD optionally
// followed by "." and a name of 1 to 32 lowercase letters or digits.
func validAPIVersion(v string) bool {
	if len(v) > 64 {
		return false
	}
	if digits, major := strings.CutPrefix(v, "v"); major {
		n, err := strconv.Atoi(digits)
		return err == nil && n >= 1 && digits[0] >= '1' && digits[0] <= '9'
	}
	date, name, named := strings.Cut(v, ".")
	if _, err := time.Parse(time.DateOnly, date); err != nil || len(date) != len(time.DateOnly) {
		return false
	}
	if !named {
		return true
	}
	if len(name) == 0 || len(name) > 32 {
		return false
	}
	for _, c := range []byte(name) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
