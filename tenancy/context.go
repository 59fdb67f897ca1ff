package tenancy

import "context"

type contextKey struct{}

// WithTenant returns a copy of ctx carrying t. The tenant must not be
// changed afterwards: every reader of the context shares it.
func WithTenant(ctx context.Context, t *Tenant) context.Context {
	return context.WithValue(ctx, contextKey{}, t)
}

// FromContext returns the tenant in ctx, or ErrNoTenant.
func FromContext(ctx context.Context) (*Tenant, error) {
	if t, ok := ctx.Value(contextKey{}).(*Tenant); ok && t != nil {
		return t, nil
	}
	return nil, ErrNoTenant
}

// IDFromContext returns the ID of the tenant in ctx, or "" when there is
// none.
func IDFromContext(ctx context.Context) string {
	if t, err := FromContext(ctx); err == nil {
		return t.ID
	}
	return ""
}
