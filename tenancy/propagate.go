package tenancy

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/baggage"

	"github.com/saaskit/saaskit/internal/logctx"
)

// AttrKey is the attribute and baggage key for the tenant ID, after
// OpenTelemetry semantic conventions.
const AttrKey = "tenant.id"

// Transport is an http.RoundTripper that sends the context's tenant ID in
// a header on outbound requests, so internal services see whose call it
// is. Requests without a tenant, or that already set the header, pass
// unchanged.
type Transport struct {
	// Base does the request. Default http.DefaultTransport.
	Base http.RoundTripper
	// Header to set. Default DefaultHeader.
	Header string
}

// RoundTrip implements http.RoundTripper. It does not change req.
func (tr *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := tr.Base
	if base == nil {
		base = http.DefaultTransport
	}
	name := tr.Header
	if name == "" {
		name = DefaultHeader
	}
	id := IDFromContext(req.Context())
	if id == "" || req.Header.Get(name) != "" {
		return base.RoundTrip(req)
	}
	out := req.Clone(req.Context())
	if out.Header == nil { // a hand-built request may have none
		out.Header = http.Header{}
	}
	out.Header.Set(name, id)
	return base.RoundTrip(out)
}

// ContextWithBaggage returns ctx with the tenant ID added to its
// OpenTelemetry baggage as the member tenant.id, so the tenant travels
// with the trace through every service an OTel propagator reaches.
func ContextWithBaggage(ctx context.Context) (context.Context, error) {
	id := IDFromContext(ctx)
	if id == "" {
		return ctx, ErrNoTenant
	}
	m, err := baggage.NewMember(AttrKey, id)
	if err != nil {
		return ctx, fmt.Errorf("tenant baggage: %w", err)
	}
	b, err := baggage.FromContext(ctx).SetMember(m)
	if err != nil {
		return ctx, fmt.Errorf("tenant baggage: %w", err)
	}
	return baggage.ContextWithBaggage(ctx, b), nil
}

// IDFromBaggage returns the tenant.id member of ctx's baggage, or "".
// Baggage comes from the caller: trust it only between your own services.
func IDFromBaggage(ctx context.Context) string {
	return baggage.FromContext(ctx).Member(AttrKey).Value()
}

// BaggageResolver reads the tenant ID from the tenant.id baggage member
// that an OTel propagator (otelhttp) has extracted into the request
// context. Use it only for calls between your own services.
type BaggageResolver struct{ reg *Registry }

// Baggage returns a resolver for the tenant.id baggage member.
func Baggage(reg *Registry) *BaggageResolver { return &BaggageResolver{reg: reg} }

// Resolve implements Resolver.
func (b *BaggageResolver) Resolve(r *http.Request) (*Tenant, error) {
	id := IDFromBaggage(r.Context())
	if id == "" {
		return nil, nil
	}
	return lookupReference(r.Context(), b.reg, ByID, id, "baggage")
}

// LogAttr returns the slog attribute tenant.id for ctx's tenant, or an
// empty attribute (which slog drops) when there is none.
func LogAttr(ctx context.Context) slog.Attr {
	if id := IDFromContext(ctx); id != "" {
		return slog.String(AttrKey, id)
	}
	return slog.Attr{}
}

// LogHandler wraps h so that every record logged with a context that
// carries a tenant gets the tenant.id attribute, at the record's top
// level whatever groups the logger opened, and once even under
// observability.LogHandler, which adds it too.
func LogHandler(h slog.Handler) slog.Handler { return logctx.New(h, addTenant) }

// addTenant adds ctx's tenant.id, if it carries a tenant.
func addTenant(ctx context.Context, add func(slog.Attr)) {
	if id := IDFromContext(ctx); id != "" {
		add(slog.String(AttrKey, id))
	}
}
