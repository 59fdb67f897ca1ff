package tenancy

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/saaskit/saaskit/problem"
)

// Principal is who authenticated a request: a verified credential and
// the tenant it belongs to.
type Principal struct {
	// Tenant is the credential's tenant. Shared and read-only.
	Tenant *Tenant
	// Key is the API key that authenticated the request, when one did.
	// Shared and read-only.
	Key *APIKey
	// Subject names the credential: "key:<key id>" for an API key, the
	// verified subject for claims.
	Subject string
	// Scopes are what the credential may do. Shared and read-only.
	Scopes []string
}

// HasScope reports whether the principal carries scope.
func (p *Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

// Authenticator verifies a credential that a request presents.
//
// Authenticate returns nil and a nil error when the request presents no
// credential the authenticator reads. A credential it reads but cannot
// verify is an error (ErrUnauthenticated, or ErrMalformed for one that
// does not parse): [Middleware] answers 401, never falling back to
// another way of naming a tenant.
type Authenticator interface {
	// Authenticate verifies the credential r presents and returns who
	// presented it; nil, nil when r presents none of its kind.
	Authenticate(r *http.Request) (*Principal, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (*Principal, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(r *http.Request) (*Principal, error) { return f(r) }

type principalContextKey struct{}

// WithPrincipal returns a copy of ctx carrying the principal that
// authenticated the request.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalContextKey{}, p)
}

// PrincipalFromContext returns the principal that authenticated the
// request, if any.
func PrincipalFromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalContextKey{}).(*Principal)
	return p, ok && p != nil
}

// Authenticated reports whether a credential authenticated the request
// whose context ctx is.
func Authenticated(ctx context.Context) bool {
	_, ok := PrincipalFromContext(ctx)
	return ok
}

// RequireAuth returns middleware, to run after [Middleware], that lets a
// request through only when a credential of the request's tenant
// authenticated it and carries every one of scopes: otherwise 401 (no
// credential) or 403 (a scope is missing), as application/problem+json.
// Put every route that reads or writes tenant data behind it; leave out
// only pages meant to be public, such as branding.
func RequireAuth(scopes ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := PrincipalFromContext(r.Context())
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
				problem.Write(w, problem.Details{Status: http.StatusUnauthorized, Detail: "this route needs a credential: an API key or a verified token"})
				return
			}
			for _, s := range scopes {
				if !p.HasScope(s) {
					problem.Write(w, problem.Details{Status: http.StatusForbidden, Detail: fmt.Sprintf("the credential lacks scope %q", s)})
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// APIKeyAuthenticator verifies tenant API keys sent as
// "Authorization: Bearer <token>" or "X-API-Key: <token>".
type APIKeyAuthenticator struct {
	reg      *Registry
	prefixes []string
}

// APIKeyAuth returns an authenticator of the registry's API keys. A
// bearer token is taken for an API key only when it starts with one of
// prefixes (default DefaultKeyPrefix; pass every KeyOptions.Prefix the
// service issues): other bearer tokens, such as JWTs, are left to
// [Claims]. A token in X-API-Key is always an API key.
func APIKeyAuth(reg *Registry, prefixes ...string) *APIKeyAuthenticator {
	if len(prefixes) == 0 {
		prefixes = []string{DefaultKeyPrefix}
	}
	return &APIKeyAuthenticator{reg: reg, prefixes: prefixes}
}

// Authenticate implements Authenticator.
func (a *APIKeyAuthenticator) Authenticate(r *http.Request) (*Principal, error) {
	tok := r.Header.Get("X-Api-Key") // X-API-Key, canonical: Get then does not allocate
	if tok == "" {
		scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return nil, nil
		}
		tok = strings.TrimSpace(rest)
		if !slices.ContainsFunc(a.prefixes, func(p string) bool { return strings.HasPrefix(tok, p) }) {
			return nil, nil // not an API key: a JWT, say, for Claims
		}
	}
	t, k, err := a.reg.Authenticate(r.Context(), tok)
	if err != nil {
		return nil, err
	}
	return &Principal{Tenant: t, Key: k, Subject: "key:" + k.ID, Scopes: k.Scopes}, nil
}

// Claim is what the application's own authentication verified: the
// tenant the identity belongs to (an ID or slug), its subject and its
// scopes.
type Claim struct {
	Tenant  string
	Subject string
	Scopes  []string
}

// ClaimsAuthenticator authenticates the identity that the application's
// own authentication middleware has already verified and put in the
// request context. saaskit does not verify tokens itself.
type ClaimsAuthenticator struct {
	reg   *Registry
	claim func(ctx context.Context) (Claim, bool)
	by    Field
}

// Claims returns an authenticator calling claim to get the verified
// identity from the request context; its Tenant is looked up by ID or
// slug. claim must report false when the request carries no verified
// identity; it must never return a claim it did not verify.
func Claims(reg *Registry, by Field, claim func(ctx context.Context) (Claim, bool)) (*ClaimsAuthenticator, error) {
	if reg == nil || claim == nil {
		return nil, fieldErr("claim", "registry and claim function must not be nil")
	}
	if by != ByID && by != BySlug {
		return nil, fieldErr("by", "must be ByID or BySlug")
	}
	return &ClaimsAuthenticator{reg: reg, claim: claim, by: by}, nil
}

// Authenticate implements Authenticator. A claim naming an unknown
// tenant does not authenticate.
func (c *ClaimsAuthenticator) Authenticate(r *http.Request) (*Principal, error) {
	cl, ok := c.claim(r.Context())
	if !ok {
		return nil, nil
	}
	t, err := lookupReference(r.Context(), c.reg, c.by, cl.Tenant, "claim")
	if err != nil {
		return nil, err
	}
	return &Principal{Tenant: t, Subject: cl.Subject, Scopes: cl.Scopes}, nil
}
