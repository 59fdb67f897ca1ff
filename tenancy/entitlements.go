package tenancy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Plan is what a plan tier entitles its tenants to: features that are
// on, and limits on counted things (seats, webhook endpoints, API calls
// a month). A feature it does not name is off; a limit it does not name
// is unlimited.
type Plan struct {
	Features map[string]bool
	Limits   map[string]int64
}

// Per-tenant overrides of its plan live in the tenant's own record,
// in Tenant.Settings, so a sales exception is one Registry.Update:
// "feature.<name>" is "on" or "off", "limit.<name>" a whole number or
// "unlimited".
const (
	featureSetting = "feature."
	limitSetting   = "limit."
)

// ErrNotEntitled means the tenant's plan (and overrides) do not allow
// what was asked: a feature that is off, or a count over a limit.
var ErrNotEntitled = errors.New("tenancy: not entitled")

// Entitlements answers what each tenant may use, from its plan
// (Tenant.Plan; "" is the plan named "") and the overrides in its
// record. Plans are code, the same in every replica; overrides travel
// with the tenant record through the Registry and its cache.
type Entitlements struct {
	plans map[string]Plan
}

// NewEntitlements checks the plans: names of features and limits are
// 1 to 64 characters of a-z, 0-9, '_', '-' and '.', and limits are not
// negative.
func NewEntitlements(plans map[string]Plan) (*Entitlements, error) {
	for name, p := range plans {
		for f := range p.Features {
			if !validEntitlementName(f) {
				return nil, fmt.Errorf("%w: plan %q: feature name %q", ErrInvalid, name, f)
			}
		}
		for l, n := range p.Limits {
			if !validEntitlementName(l) || n < 0 {
				return nil, fmt.Errorf("%w: plan %q: limit %q of %d: a name and a limit of zero or more", ErrInvalid, name, l, n)
			}
		}
	}
	return &Entitlements{plans: maps.Clone(plans)}, nil
}

func validEntitlementName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// limited reports whether a plan has a limit on name.
func (e *Entitlements) limited(name string) bool {
	for _, p := range e.plans {
		if _, ok := p.Limits[name]; ok {
			return true
		}
	}
	return false
}

// limitNames returns the names the plans limit, sorted.
func (e *Entitlements) limitNames() []string {
	var names []string
	for _, p := range e.plans {
		for l := range p.Limits {
			if !slices.Contains(names, l) {
				names = append(names, l)
			}
		}
	}
	slices.Sort(names)
	return names
}

// Has reports whether tenant t may use feature: its override if it has
// one, else its plan's.
func (e *Entitlements) Has(t *Tenant, feature string) bool {
	switch t.Settings[featureSetting+feature] {
	case "on":
		return true
	case "off":
		return false
	}
	return e.plans[t.Plan].Features[feature]
}

// Limit returns tenant t's limit on name, and false when it has none
// (unlimited): its override if it has one, else its plan's.
func (e *Entitlements) Limit(t *Tenant, name string) (int64, bool) {
	if v, ok := t.Settings[limitSetting+name]; ok {
		if v == "unlimited" {
			return 0, false
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			return n, true
		}
	}
	n, ok := e.plans[t.Plan].Limits[name]
	return n, ok
}

// Entitled reports whether the tenant of ctx may use feature; false
// without a tenant.
func (e *Entitlements) Entitled(ctx context.Context, feature string) bool {
	t, err := FromContext(ctx)
	return err == nil && e.Has(t, feature)
}

// Within checks that the tenant of ctx may have count of name (the
// count after the action it is about to take, such as its sixth
// webhook endpoint): ErrNotEntitled, naming the limit and the plan,
// when count is over its limit, or when there is no tenant.
func (e *Entitlements) Within(ctx context.Context, name string, count int64) error {
	t, err := FromContext(ctx)
	if err != nil {
		return fmt.Errorf("%w: no tenant to count %s for", ErrNotEntitled, name)
	}
	limit, ok := e.Limit(t, name)
	if !ok || count <= limit {
		return nil
	}
	return fmt.Errorf("%w: %d %s is over the limit of %d on %s", ErrNotEntitled, count, name, limit, planName(t.Plan))
}

// checkOverrides validates a tenant's entitlement overrides in its
// settings, so a typo is refused when stored rather than ignored when
// read.
func checkOverrides(settings map[string]string) error {
	for k, v := range settings {
		switch {
		case strings.HasPrefix(k, featureSetting):
			if !validEntitlementName(k[len(featureSetting):]) || v != "on" && v != "off" {
				return fieldErr("settings."+k, `must be "on" or "off", for a feature name of a-z, 0-9, '_', '-', '.'`)
			}
		case strings.HasPrefix(k, limitSetting):
			n, err := strconv.ParseInt(v, 10, 64)
			if !validEntitlementName(k[len(limitSetting):]) || v != "unlimited" && (err != nil || n < 0 || n == math.MaxInt64) {
				return fieldErr("settings."+k, `must be a whole number of zero or more, or "unlimited"`)
			}
		}
	}
	return nil
}
