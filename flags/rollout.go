package flags

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/saaskit/saaskit/tenancy"
)

// SaaS rollouts, written as ordinary flagd definitions so that any flagd
// provider evaluates them the same way:
//
//   - A ring is a named cohort of tenants, stored as the evaluator
//     "ring:<name>" that tests {"in": [{"var": "tenantId"}, [...]]}. Rings
//     are ordered: each ring includes the rings before it (internal, then
//     beta), so rolling out "to beta" reaches internal tenants too.
//   - A percentage is flagd's fractional split, bucketed by tenant by
//     default (flag key + tenantId), so a tenant's users stay together;
//     raising the percentage only adds tenants.
//   - A progressive rollout steps the percentage at given times, testing
//     $flagd.timestamp (the Evaluator's clock).

// TenantAttribute is the context attribute that holds the tenant ID.
const TenantAttribute = "tenantId"

// UsageAttribute is the context attribute that holds the tenant's usage
// in the current period (tenancy.UsageFromContext), an object of metric
// name to amount: a rule reads {"var": "tenantUsage.api_calls"}.
const UsageAttribute = "tenantUsage"

// ringPrefix names ring evaluators.
const ringPrefix = "ring:"

// SetRing defines ring name as tenants plus every tenant of the ring
// after, which must exist ("" for the first ring). Redefining a ring
// replaces its own tenants and keeps its place.
func (d *Definitions) SetRing(name, after string, tenants ...string) error {
	if name == "" || strings.ContainsAny(name, " :") {
		return fmt.Errorf("%w: ring name %q: non-empty, without spaces or ':'", ErrInvalidDefinitions, name)
	}
	if d.Evaluators == nil {
		d.Evaluators = map[string]any{}
	}
	members := slices.Clone(tenants)
	slices.Sort(members)
	list := make([]any, len(members))
	for i, t := range members {
		list[i] = t
	}
	rule := any(map[string]any{"in": []any{map[string]any{"var": TenantAttribute}, list}})
	if after != "" {
		if _, ok := d.Evaluators[ringPrefix+after]; !ok {
			return fmt.Errorf("%w: ring %q: no ring %q to follow", ErrInvalidDefinitions, name, after)
		}
		if slices.Contains(d.ringChain(after), name) {
			return fmt.Errorf("%w: ring %q cannot follow %q: a cycle", ErrInvalidDefinitions, name, after)
		}
		rule = map[string]any{"or": []any{map[string]any{"$ref": ringPrefix + after}, rule}}
	}
	d.Evaluators[ringPrefix+name] = rule
	return nil
}

// RingTenants returns a ring's own tenants (not those of earlier rings)
// and the ring it follows.
func (d *Definitions) RingTenants(name string) (tenants []string, after string, ok bool) {
	rule, ok := d.Evaluators[ringPrefix+name].(map[string]any)
	if !ok {
		return nil, "", false
	}
	if or, isOr := rule["or"].([]any); isOr && len(or) == 2 {
		ref, _ := or[0].(map[string]any)
		prev, _ := ref["$ref"].(string)
		after = strings.TrimPrefix(prev, ringPrefix)
		rule, _ = or[1].(map[string]any)
	}
	in, _ := rule["in"].([]any)
	if len(in) == 2 {
		list, _ := in[1].([]any)
		for _, t := range list {
			if s, isString := t.(string); isString {
				tenants = append(tenants, s)
			}
		}
	}
	return tenants, after, true
}

// ringChain lists name and the rings it follows.
func (d *Definitions) ringChain(name string) []string {
	var chain []string
	for name != "" && !slices.Contains(chain, name) {
		chain = append(chain, name)
		_, name, _ = d.RingTenants(name)
	}
	return chain
}

// Rings returns the ring names, sorted.
func (d *Definitions) Rings() []string {
	var out []string
	for k := range maps.Keys(d.Evaluators) {
		if name, ok := strings.CutPrefix(k, ringPrefix); ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Rollout describes a boolean feature's release.
type Rollout struct {
	// Ring, when set, turns the feature on for every tenant of that ring
	// (and of the rings before it).
	Ring string
	// Percent turns it on for this share (0 to 100) of everyone else.
	Percent int
	// Steps, when set, replace Percent from their times on: a
	// progressive rollout. They must be in time order.
	Steps []Step
	// BucketBy is the attribute that keeps subjects together: tenantId
	// (the default: a tenant is wholly in or out) or targetingKey.
	BucketBy string
}

// Step is a percentage from a time on.
type Step struct {
	At      time.Time
	Percent int
}

// RolloutFlag returns a boolean flag, variants "on" and "off", default
// "off", whose targeting implements r.
func RolloutFlag(r Rollout) (Flag, error) {
	rule, err := r.targeting()
	if err != nil {
		return Flag{}, err
	}
	f := Flag{State: Enabled, Variants: map[string]any{"on": true, "off": false}, DefaultVariant: "off"}
	if rule != nil {
		f.Targeting = rule
	}
	return f, nil
}

func (r Rollout) targeting() (any, error) {
	if r.BucketBy == "" {
		r.BucketBy = TenantAttribute
	}
	split := func(p int) (any, error) {
		if p < 0 || p > 100 {
			return nil, fmt.Errorf("%w: rollout percentage %d is not 0 to 100", ErrInvalidDefinitions, p)
		}
		// "on" first: a key in the first p buckets stays in when p grows.
		return map[string]any{"fractional": []any{
			map[string]any{"cat": []any{map[string]any{"var": "$flagd.flagKey"}, map[string]any{"var": r.BucketBy}}},
			[]any{"on", p}, []any{"off", 100 - p},
		}}, nil
	}
	percentage, err := split(r.Percent)
	if err != nil {
		return nil, err
	}
	if len(r.Steps) > 0 {
		chain := []any{}
		for i := len(r.Steps) - 1; i >= 0; i-- {
			s := r.Steps[i]
			if i > 0 && !s.At.After(r.Steps[i-1].At) {
				return nil, fmt.Errorf("%w: rollout steps must be in time order", ErrInvalidDefinitions)
			}
			at, err := split(s.Percent)
			if err != nil {
				return nil, err
			}
			chain = append(chain, map[string]any{">=": []any{map[string]any{"var": "$flagd.timestamp"}, s.At.Unix()}}, at)
		}
		percentage = map[string]any{"if": append(chain, percentage)}
	}
	if r.Ring == "" {
		return percentage, nil
	}
	return map[string]any{"if": []any{map[string]any{"$ref": ringPrefix + r.Ring}, "on", percentage}}, nil
}

// TenantContext returns attrs (a new map when nil) with the tenant of
// ctx, if any, as tenantId, tenantPlan and tenantRegion, and the usage
// ctx carries (tenancy.Metering's Middleware puts it there) as
// tenantUsage: targeting and bucketing can then work per tenant, and
// rules can target tenants by how much they use. An attribute already
// set wins.
func TenantContext(ctx context.Context, attrs map[string]any) map[string]any {
	if attrs == nil {
		attrs = map[string]any{}
	}
	t, err := tenancy.FromContext(ctx)
	if err != nil {
		return attrs
	}
	for k, v := range map[string]string{TenantAttribute: t.ID, "tenantPlan": t.Plan, "tenantRegion": t.Region} {
		if _, set := attrs[k]; !set && v != "" {
			attrs[k] = v
		}
	}
	if _, set := attrs[UsageAttribute]; !set {
		if usage := tenancy.UsageFromContext(ctx); len(usage) > 0 {
			m := make(map[string]any, len(usage))
			for name, n := range usage {
				m[name] = n
			}
			attrs[UsageAttribute] = m
		}
	}
	return attrs
}

// Edits shared by Evaluator.Edit and durable stores' admin operations.

// SetState sets a flag's state: Disabled is the kill switch.
func (d *Definitions) SetState(key string, state State) error {
	f, ok := d.Flags[key]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	f.State = state
	d.Flags[key] = f
	return nil
}

// SetPercent sets the share of a rollout flag's percentage split (as
// RolloutFlag writes it: "on" first) to percent, at every step of a
// progressive rollout. Raising it keeps everyone who was in; lowering it
// rolls back.
func (d *Definitions) SetPercent(key string, percent int) error {
	f, ok := d.Flags[key]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	if percent < 0 || percent > 100 {
		return fmt.Errorf("%w: rollout percentage %d is not 0 to 100", ErrInvalidDefinitions, percent)
	}
	if !setSplits(f.Targeting, percent) {
		return fmt.Errorf("%w: flag %q has no on/off percentage split", ErrInvalidDefinitions, key)
	}
	d.Flags[key] = f
	return nil
}

// setSplits sets p in every fractional [["on", p], ["off", 100-p]] of
// rule and reports whether it found one. The rule's maps and slices are modified in place.
func setSplits(rule any, percent int) bool {
	found := false
	switch t := rule.(type) {
	case map[string]any:
		for op, args := range t {
			list, _ := args.([]any)
			if op == "fractional" && len(list) == 3 {
				on, okOn := list[1].([]any)
				off, okOff := list[2].([]any)
				if okOn && okOff && len(on) == 2 && len(off) == 2 && on[0] == "on" && off[0] == "off" {
					on[1], off[1] = percent, 100-percent
					found = true
					continue
				}
			}
			found = setSplits(args, percent) || found
		}
	case []any:
		for _, it := range t {
			found = setSplits(it, percent) || found
		}
	}
	return found
}

// AddToRing adds tenants to a ring, which must exist.
func (d *Definitions) AddToRing(ring string, tenants ...string) error {
	current, after, ok := d.RingTenants(ring)
	if !ok {
		return fmt.Errorf("%w: ring %q", ErrNotFound, ring)
	}
	for _, t := range tenants {
		if !slices.Contains(current, t) {
			current = append(current, t)
		}
	}
	return d.SetRing(ring, after, current...)
}

// RemoveFromRing removes tenants from a ring, which must exist.
func (d *Definitions) RemoveFromRing(ring string, tenants ...string) error {
	current, after, ok := d.RingTenants(ring)
	if !ok {
		return fmt.Errorf("%w: ring %q", ErrNotFound, ring)
	}
	current = slices.DeleteFunc(current, func(t string) bool { return slices.Contains(tenants, t) })
	return d.SetRing(ring, after, current...)
}
