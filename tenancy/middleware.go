package tenancy

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/saaskit/saaskit/problem"
)

// Input bounds: anything longer is refused as malformed before any work.
const (
	maxHostLen      = 253 + len(":65535")
	maxHeaderValLen = 256
)

// DefaultHeader is the header the Header resolver reads and Transport
// writes.
const DefaultHeader = "X-Tenant-ID"

// Resolver identifies the tenant a request names: by its host, a
// custom domain, a header, a path or baggage. Identifying is not
// authenticating: a client can name any tenant, so a tenant that a
// Resolver found is served only as unauthenticated, unless a credential
// of that same tenant (an [Authenticator]'s [Principal]) comes with it.
//
// Resolve returns nil and a nil error when the request carries nothing
// the resolver reads. Once it finds what it reads, its answer is final:
// an unknown tenant is ErrNotFound, an unparsable reference ErrMalformed.
type Resolver interface {
	// Resolve returns the tenant r names, as above.
	Resolve(r *http.Request) (*Tenant, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(r *http.Request) (*Tenant, error)

// Resolve calls f.
func (f ResolverFunc) Resolve(r *http.Request) (*Tenant, error) { return f(r) }

// MiddlewareOptions configure Middleware.
type MiddlewareOptions struct {
	// Identify are the resolvers that name a tenant, asked in order; the
	// first that finds what it reads decides which tenant is named.
	Identify []Resolver
	// Authenticate are the authenticators that verify a credential
	// ([APIKeyAuth], [Claims]). Every one is asked, whatever the order:
	// a presented credential always decides.
	Authenticate []Authenticator
	// Optional lets requests that name no tenant and present no
	// credential through without one. Default false: they get 400.
	Optional bool
	// Logger records store failures. Default slog.Default().
	Logger *slog.Logger
}

// Middleware resolves the tenant of each request and puts it in the
// request context (see FromContext), with the [Principal] that
// authenticated the request, if any (see PrincipalFromContext, and
// RequireAuth for the routes that need one). It records the tenant as
// tenant.id on the request's span when one is recording.
//
// A presented credential always decides, whatever the order of the
// options' lists:
//
//   - A credential that does not verify (unknown, revoked, expired,
//     malformed) is 401, even when the request also names a tenant.
//   - A credential whose tenant differs from the tenant the request
//     names (by host, domain, header, path or baggage), or from another
//     credential's, is 403: the request is served as neither.
//   - A valid credential serves its tenant, authenticated.
//   - Without a credential, the named tenant is served unauthenticated.
//
// Other failures are application/problem+json too: malformed reference
// 400, suspended tenant 403, unknown or deleted tenant 404, store
// failure 500.
func Middleware(opts MiddlewareOptions) func(http.Handler) http.Handler {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	var resolvers []Resolver
	for _, r := range opts.Identify {
		if r != nil {
			resolvers = append(resolvers, r)
		}
	}
	var authenticators []Authenticator
	for _, a := range opts.Authenticate {
		if a != nil {
			authenticators = append(authenticators, a)
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := authenticate(authenticators, r)
			if err != nil {
				writeError(w, r, logger, err)
				return
			}
			named, by, err := identify(resolvers, r)
			if err != nil {
				writeError(w, r, logger, err)
				return
			}
			t := named
			if p != nil {
				if named != nil && named.ID != p.Tenant.ID {
					writeError(w, r, logger, fmt.Errorf("%w: the credential does not belong to the tenant that the %s names", ErrForbidden, sourceOf(by)))
					return
				}
				t = p.Tenant
			}
			switch {
			case t == nil && opts.Optional:
				next.ServeHTTP(w, r)
				return
			case t == nil:
				problem.Write(w, problem.Details{Status: http.StatusBadRequest, Detail: "the request names no tenant"})
				return
			case t.Status == StatusDeleted:
				writeError(w, r, logger, fmt.Errorf("tenant %q: %w", t.Slug, ErrNotFound))
				return
			case t.Status == StatusSuspended:
				writeError(w, r, logger, fmt.Errorf("tenant %q: %w", t.Slug, ErrSuspended))
				return
			}
			ctx := WithTenant(r.Context(), t)
			if p != nil {
				ctx = WithPrincipal(ctx, p)
			}
			// The request's span (otelhttp's, if any) records whose it is.
			if span := trace.SpanFromContext(ctx); span.IsRecording() {
				span.SetAttributes(attribute.String(AttrKey, t.ID))
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// authenticate asks every authenticator and returns the principal the
// request's credentials agree on, or nil when it presents none. A
// credential that does not verify is ErrUnauthenticated; store failures
// keep their own error.
func authenticate(authenticators []Authenticator, r *http.Request) (*Principal, error) {
	var found *Principal
	for _, a := range authenticators {
		p, err := a.Authenticate(r)
		switch {
		case err != nil && HTTPStatus(err) == http.StatusInternalServerError:
			return nil, err
		case err != nil && !errors.Is(err, ErrUnauthenticated):
			return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
		case err != nil:
			return nil, err
		case p == nil:
			continue
		case p.Tenant == nil:
			return nil, fmt.Errorf("%w: the credential names no tenant", ErrUnauthenticated)
		case found != nil && found.Tenant.ID != p.Tenant.ID:
			return nil, fmt.Errorf("%w: the request's credentials belong to different tenants", ErrForbidden)
		case found == nil:
			found = p
		}
	}
	return found, nil
}

// identify runs the resolvers in order and returns the first tenant
// named, and the resolver that named it.
func identify(resolvers []Resolver, r *http.Request) (*Tenant, Resolver, error) {
	for _, res := range resolvers {
		t, err := res.Resolve(r)
		if err != nil || t != nil {
			return t, res, err
		}
	}
	return nil, nil, nil
}

// sourceOf names what a resolver reads, for error messages.
func sourceOf(r Resolver) string {
	switch r := r.(type) {
	case *SubdomainResolver:
		return "host"
	case *CustomDomainResolver:
		return "custom domain"
	case *HeaderResolver:
		return "header " + r.name
	case *PathPrefixResolver:
		return "path"
	case *BaggageResolver:
		return "baggage"
	}
	return "request"
}

// HTTPStatus maps a resolution error to its HTTP status.
func HTTPStatus(err error) int {
	switch {
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrSuspended), errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNoTenant):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	status := HTTPStatus(err)
	detail := err.Error()
	switch status {
	case http.StatusInternalServerError:
		logger.ErrorContext(r.Context(), "tenant resolution failed", slog.String("error", detail))
		detail = "tenant resolution failed"
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
	}
	problem.Write(w, problem.Details{Status: status, Detail: detail})
}
